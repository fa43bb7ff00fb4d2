/* buf: written next */
typedef int fdmsg_placeholder_buf;
