/* chan: written next */
typedef int fdmsg_placeholder_chan;
