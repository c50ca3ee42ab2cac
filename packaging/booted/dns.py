# A DNS server for packaging/test-booted.sh that knows one name:
# fetch-dns.test A 127.0.0.1 (no AAAA), so a fetch job in the sandbox
# resolves a name over UDP, not only from /etc/hosts. Logs each query to
# the file named by its argument.
import socket, struct, sys
names = {b'fetch-dns.test': '127.0.0.1'}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 53))
log = open(sys.argv[1], 'a', buffering=1)
while True:
    q, addr = s.recvfrom(1500)
    try:
        qid = struct.unpack('>H', q[:2])[0]
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]]); i += 1 + q[i]
        qname = b'.'.join(labels).lower()
        qtype = struct.unpack('>H', q[i + 1:i + 3])[0]
        question = q[12:i + 5]
    except Exception:
        continue
    ip = names.get(qname)
    ans = b''
    if ip and qtype == 1:
        ans = b'\xc0\x0c' + struct.pack('>HHIH', 1, 1, 60, 4) + socket.inet_aton(ip)
    flags = 0x8180 | (0 if ip else 3)
    s.sendto(struct.pack('>HHHHHH', qid, flags, 1, 1 if ans else 0, 0, 0) + question + ans, addr)
    log.write('%s type %d -> %s\n' % (qname.decode(), qtype, ip if ans else 'none'))
