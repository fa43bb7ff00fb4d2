-- SPDX-License-Identifier: ISC
-- Wireshark dissector for fdmsg(1) captures (fdmsg proxy --capture FILE).
--
-- A capture is a pcapng file whose interface has link type LINKTYPE_USER0
-- (147); each packet is one capture record, little-endian, as the proxy
-- section of fdmsg(1) documents:
--   version u8, event u8 (1 frame, 2 open, 3 close), dir u8 (0 proxy,
--   1 client, 2 server), reserved u8, conn u32, then
--   frame: the 16-byte frame header (version, nfds, flags, len, type,
--          peerid), nfds descriptor kinds (u8 each), the payload;
--   open:  pid u32, uid u32;
--   close: error u32 (a positive errno; 0 an orderly end).
--
-- Use: wireshark -X lua_script:contrib/wireshark/fdmsg.lua capture.pcapng
--  or: tshark -X lua_script:contrib/wireshark/fdmsg.lua -r capture.pcapng \
--        -T fields -e fdmsg.from -e fdmsg.type -e fdmsg.fd_kind
-- or copy it into the personal Lua plugins folder.  This takes USER0 over
-- from the "User DLTs" table.

local p = Proto("fdmsg", "fdmsg capture record")

local events = { [1] = "frame", [2] = "open", [3] = "close" }
local sides = { [0] = "proxy", [1] = "client", [2] = "server" }
local kinds = { [0] = "unknown", "file", "dir", "chr", "blk", "fifo",
	"socket", "link", "anon" }

local f = {
	version = ProtoField.uint8("fdmsg.version", "Record version"),
	event = ProtoField.uint8("fdmsg.event", "Event", base.DEC, events),
	dir = ProtoField.uint8("fdmsg.dir", "Side", base.DEC, sides),
	from = ProtoField.string("fdmsg.from", "From (frame) or by (close)"),
	conn = ProtoField.uint32("fdmsg.conn", "Connection"),
	hversion = ProtoField.uint8("fdmsg.hdr.version", "Wire version"),
	nfds = ProtoField.uint8("fdmsg.nfds", "Descriptors"),
	flags = ProtoField.uint16("fdmsg.flags", "Flags", base.HEX),
	len = ProtoField.uint32("fdmsg.len", "Frame length"),
	type = ProtoField.uint32("fdmsg.type", "Type"),
	peerid = ProtoField.uint32("fdmsg.peerid", "Peer id"),
	fd_kind = ProtoField.string("fdmsg.fd_kind", "Descriptor kind"),
	fd_code = ProtoField.uint8("fdmsg.fd_code", "Descriptor kind code",
		base.DEC, kinds),
	payload = ProtoField.bytes("fdmsg.payload", "Payload"),
	pid = ProtoField.uint32("fdmsg.pid", "Client pid"),
	uid = ProtoField.uint32("fdmsg.uid", "Client uid"),
	error = ProtoField.uint32("fdmsg.error", "Error (errno)"),
}
p.fields = f

local bad = ProtoExpert.new("fdmsg.malformed", "Malformed capture record",
	expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { bad }

local function malformed(tree, tvb, why)
	tree:add_proto_expert_info(bad, why)
	return tvb:len()
end

function p.dissector(tvb, pinfo, root)
	pinfo.cols.protocol = "fdmsg"
	local tree = root:add(p, tvb())
	local n = tvb:len()
	if n < 8 then
		return malformed(tree, tvb, "record shorter than 8 bytes")
	end
	local ev = tvb(1, 1):uint()
	local dir = tvb(2, 1):uint()
	local conn = tvb(4, 4):le_uint()
	tree:add(f.version, tvb(0, 1))
	tree:add(f.event, tvb(1, 1))
	tree:add(f.dir, tvb(2, 1))
	tree:add(f.from, tvb(2, 1), sides[dir] or "unknown")
	tree:add_le(f.conn, tvb(4, 4))
	if tvb(0, 1):uint() ~= 1 then
		return malformed(tree, tvb, "record version is not 1")
	end
	local who = "client " .. conn
	if ev == 1 then
		if n < 24 then
			return malformed(tree, tvb, "frame header cut short")
		end
		local nfds = tvb(9, 1):uint()
		tree:add(f.hversion, tvb(8, 1))
		tree:add(f.nfds, tvb(9, 1))
		tree:add_le(f.flags, tvb(10, 2))
		tree:add_le(f.len, tvb(12, 4))
		tree:add_le(f.type, tvb(16, 4))
		tree:add_le(f.peerid, tvb(20, 4))
		if n < 24 + nfds then
			return malformed(tree, tvb, "descriptor kinds cut short")
		end
		local names = {}
		for i = 0, nfds - 1 do
			local k = tvb(24 + i, 1):uint()
			names[#names + 1] = kinds[k] or "unknown"
			tree:add(f.fd_kind, tvb(24 + i, 1), names[#names])
			tree:add(f.fd_code, tvb(24 + i, 1))
		end
		local plen = tvb(12, 4):le_uint() - 16
		if n > 24 + nfds then
			tree:add(f.payload, tvb(24 + nfds))
		end
		if 24 + nfds + plen ~= n and tvb:reported_len() == n then
			malformed(tree, tvb, "payload length differs from the header's")
		end
		if dir == 1 then
			pinfo.cols.src = who
			pinfo.cols.dst = "server"
		else
			pinfo.cols.src = "server"
			pinfo.cols.dst = who
		end
		local info = string.format("type=%u peerid=%u len=%u",
			tvb(16, 4):le_uint(), tvb(20, 4):le_uint(),
			tvb(12, 4):le_uint())
		if nfds > 0 then
			info = info .. " fds=" .. table.concat(names, ",")
		end
		pinfo.cols.info = info
	elseif ev == 2 then
		if n < 16 then
			return malformed(tree, tvb, "open record cut short")
		end
		tree:add_le(f.pid, tvb(8, 4))
		tree:add_le(f.uid, tvb(12, 4))
		pinfo.cols.src = who
		pinfo.cols.info = string.format("connected (pid %d, uid %d)",
			tvb(8, 4):le_int(), tvb(12, 4):le_int())
	elseif ev == 3 then
		if n < 12 then
			return malformed(tree, tvb, "close record cut short")
		end
		tree:add_le(f.error, tvb(8, 4))
		pinfo.cols.src = who
		pinfo.cols.info = string.format("closed by %s, errno %u",
			sides[dir] or "unknown", tvb(8, 4):le_uint())
	else
		return malformed(tree, tvb, "unknown event")
	end
	return n
end

-- wtap_encaps since Wireshark 3.x; wtap before.
local encaps = wtap_encaps or wtap
DissectorTable.get("wtap_encap"):add(encaps.USER0, p)
