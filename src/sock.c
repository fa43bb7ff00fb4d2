/* sock: written next */
typedef int fdmsg_placeholder_sock;
