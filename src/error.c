/* error: written next */
typedef int fdmsg_placeholder_error;
