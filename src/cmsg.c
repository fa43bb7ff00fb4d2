/* cmsg: written next */
typedef int fdmsg_placeholder_cmsg;
