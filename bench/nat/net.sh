#!/usr/bin/env bash
# The network of `npm run nat-trial` (root only; iproute2 and iptables): five network namespaces.
#   cit-inet        a bridge standing for the internet; the relay listens there on 11.77.0.1 (outside
#                   the private ranges, which libp2p never tries for a direct connection; nothing
#                   leaves these namespaces)
#   cit-natA/B      home routers: public 11.77.0.2 / 11.77.0.3, masquerading 10.88.1.0/24 / 10.88.2.0/24
#                   (Linux NAT: an inbound connection nothing inside asked for is refused)
#   cit-hostA/B     a member behind each router, at 10.88.1.2 / 10.88.2.2, routed through it
# `net.sh forward` also forwards port 4002 of cit-natA's public address to cit-hostA (a router with a
# forwarded port, or UPnP). `net.sh down` removes them all.
set -euo pipefail
down () { for n in cit-hostA cit-hostB cit-natA cit-natB cit-inet; do ip netns del $n 2>/dev/null || true; done; }
if [ "${1:-}" = down ]; then down; exit 0; fi
down
ip netns add cit-inet
ip -n cit-inet link add br0 type bridge
ip -n cit-inet addr add 11.77.0.1/24 dev br0
ip -n cit-inet link set br0 up
ip -n cit-inet link set lo up
i=2
for X in A B; do
  n=$([ $X = A ] && echo 1 || echo 2)
  ip netns add cit-nat$X; ip netns add cit-host$X
  ip link add pub$X type veth peer name up$X
  ip link set pub$X netns cit-nat$X; ip link set up$X netns cit-inet
  ip -n cit-inet link set up$X master br0; ip -n cit-inet link set up$X up
  ip -n cit-nat$X addr add 11.77.0.$i/24 dev pub$X; ip -n cit-nat$X link set pub$X up; ip -n cit-nat$X link set lo up
  ip link add lan$X type veth peer name eth$X
  ip link set lan$X netns cit-nat$X; ip link set eth$X netns cit-host$X
  ip -n cit-nat$X addr add 10.88.$n.1/24 dev lan$X; ip -n cit-nat$X link set lan$X up
  ip -n cit-host$X addr add 10.88.$n.2/24 dev eth$X; ip -n cit-host$X link set eth$X up; ip -n cit-host$X link set lo up
  ip -n cit-host$X route add default via 10.88.$n.1
  ip netns exec cit-nat$X sysctl -qw net.ipv4.ip_forward=1
  ip netns exec cit-nat$X iptables -t nat -A POSTROUTING -o pub$X -j MASQUERADE
  i=$((i+1))
done
if [ "${1:-}" = forward ]; then
  ip netns exec cit-natA iptables -t nat -A PREROUTING -i pubA -p tcp --dport 4002 -j DNAT --to-destination 10.88.1.2:4002
fi
