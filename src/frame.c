/* frame: written next */
typedef int fdmsg_placeholder_frame;
