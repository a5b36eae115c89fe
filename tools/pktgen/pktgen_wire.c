/* SPDX-License-Identifier: BSD-3-Clause */
/* Frame building by explicit byte offsets: see pktgen_wire.h. */
#include <string.h>

#include "pktgen_wire.h"

const uint8_t wire_client_mac[ETH_ADDR_LEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const uint8_t wire_balancer_mac[ETH_ADDR_LEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t broadcast_mac[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* IPv4 option bytes: Router Alert (RFC 2113), copied into every fragment,
 * then NOPs and End of Option List to fill a second word. */
static const uint8_t ipv4_options[8] = {0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00};

size_t l2_len(const struct l2_params *l2)
{
	return ETH_HDR_LEN + (l2->vlan ? VLAN_TAG_LEN : 0);
}

size_t ip_headers_len(const struct ip_params *ip)
{
	if (ip->family == 4)
		return IPV4_HDR_LEN + ip->ipv4_options_len;
	return IPV6_HDR_LEN + (ip->ipv6_dstopts ? IPV6_EXT_LEN : 0) +
	       (ip->fragment ? IPV6_EXT_LEN : 0);
}

size_t write_eth_addrs(uint8_t *frame, const uint8_t dst[ETH_ADDR_LEN],
		       const uint8_t src[ETH_ADDR_LEN], uint16_t ethertype)
{
	memcpy(frame + ETH_OFF_DST, dst, ETH_ADDR_LEN);
	memcpy(frame + ETH_OFF_SRC, src, ETH_ADDR_LEN);
	put_be16(frame + ETH_OFF_TYPE, ethertype);
	return ETH_HDR_LEN;
}

size_t write_eth(uint8_t *frame, const struct l2_params *l2, uint16_t ethertype)
{
	write_eth_addrs(frame, l2->broadcast ? broadcast_mac : wire_balancer_mac,
			wire_client_mac, ethertype);
	if (!l2->vlan)
		return ETH_HDR_LEN;
	put_be16(frame + ETH_OFF_TYPE, WIRE_ETHERTYPE_VLAN);
	put_be16(frame + ETH_HDR_LEN + VLAN_OFF_TCI, l2->vlan_tci);
	put_be16(frame + ETH_HDR_LEN + VLAN_OFF_TYPE, ethertype);
	return ETH_HDR_LEN + VLAN_TAG_LEN;
}

uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8; /* padded with a zero byte */
	return sum;
}

uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void ipv4_fill_checksum(uint8_t *ip, size_t hdr_len)
{
	put_be16(ip + IPV4_OFF_CSUM, 0);
	put_be16(ip + IPV4_OFF_CSUM, csum_fold(csum_add(0, ip, hdr_len)));
}

static size_t write_ipv4_header(uint8_t *p, const struct ip_params *ip, size_t upper_len)
{
	size_t hdr_len = IPV4_HDR_LEN + ip->ipv4_options_len;
	uint16_t frag = ip->df ? WIRE_IPV4_DF : 0;

	if (ip->fragment)
		frag |= (uint16_t)((ip->more_fragments ? WIRE_IPV4_MF : 0) | (ip->frag_offset / 8));
	p[IPV4_OFF_VER_IHL] = (uint8_t)(0x40 | hdr_len / 4);
	p[IPV4_OFF_TOS] = ip->tos;
	put_be16(p + IPV4_OFF_TOTAL_LEN, (uint16_t)(hdr_len + upper_len));
	put_be16(p + IPV4_OFF_ID, ip->ipv4_id);
	put_be16(p + IPV4_OFF_FRAG, frag);
	p[IPV4_OFF_TTL] = ip->ttl;
	p[IPV4_OFF_PROTO] = ip->proto;
	memcpy(p + IPV4_OFF_SRC, ip->src, 4);
	memcpy(p + IPV4_OFF_DST, ip->dst, 4);
	memcpy(p + IPV4_OFF_OPTIONS, ipv4_options, ip->ipv4_options_len);
	ipv4_fill_checksum(p, hdr_len);
	return hdr_len;
}

static size_t write_ipv6_headers(uint8_t *p, const struct ip_params *ip, size_t upper_len)
{
	size_t ext_len = ip_headers_len(ip) - IPV6_HDR_LEN;
	uint8_t after_dstopts = ip->fragment ? WIRE_PROTO_FRAGMENT : ip->proto;
	uint8_t *ext = p + IPV6_HDR_LEN;

	put_be32(p + IPV6_OFF_VER_TC_FLOW,
		 6u << 28 | (uint32_t)ip->tos << 20 | (ip->ipv6_flow_label & 0xfffff));
	put_be16(p + IPV6_OFF_PAYLOAD_LEN, (uint16_t)(ext_len + upper_len));
	p[IPV6_OFF_NEXT] = ip->ipv6_dstopts ? WIRE_PROTO_DSTOPTS : after_dstopts;
	p[IPV6_OFF_HOP_LIMIT] = ip->ttl;
	memcpy(p + IPV6_OFF_SRC, ip->src, 16);
	memcpy(p + IPV6_OFF_DST, ip->dst, 16);
	if (ip->ipv6_dstopts) {
		/* One PadN option (type 1, 4 bytes of zeros) fills the 8 bytes. */
		ext[IPV6_EXT_OFF_NEXT] = after_dstopts;
		ext[IPV6_EXT_OFF_LEN] = 0;
		ext[2] = 1;
		ext[3] = 4;
		memset(ext + 4, 0, 4);
		ext += IPV6_EXT_LEN;
	}
	if (ip->fragment) {
		ext[IPV6_FRAG_OFF_NEXT] = ip->proto;
		ext[1] = 0; /* reserved */
		put_be16(ext + IPV6_FRAG_OFF_OFFSET,
			 (uint16_t)((ip->frag_offset & 0xfff8) |
				    (ip->more_fragments ? WIRE_IPV6_FRAG_MF : 0)));
		put_be32(ext + IPV6_FRAG_OFF_ID, ip->ipv6_frag_id);
	}
	return IPV6_HDR_LEN + ext_len;
}

size_t write_ip_headers(uint8_t *p, const struct ip_params *ip, size_t upper_len)
{
	if (ip->family == 4)
		return write_ipv4_header(p, ip, upper_len);
	return write_ipv6_headers(p, ip, upper_len);
}

void l4_fill_checksum(const struct ip_params *ip, uint8_t proto, uint8_t *l4, size_t len)
{
	size_t csum_off;
	uint64_t sum = 0;
	uint16_t csum;

	switch (proto) {
	case WIRE_PROTO_TCP:
		csum_off = TCP_OFF_CSUM;
		break;
	case WIRE_PROTO_UDP:
		csum_off = UDP_OFF_CSUM;
		break;
	case WIRE_PROTO_ICMP:
	case WIRE_PROTO_ICMPV6:
		csum_off = ICMP_OFF_CSUM;
		break;
	default:
		return;
	}
	if (len < csum_off + 2)
		return; /* a truncated header has no checksum field to fill */
	put_be16(l4 + csum_off, 0);
	/* Pseudo-header: RFC 768 / 9293 for IPv4, RFC 8200 8.1 for IPv6.
	 * ICMPv4 has none, ICMPv6 does. */
	if (proto != WIRE_PROTO_ICMP) {
		size_t addr_len = ip->family == 4 ? 4 : 16;

		sum = csum_add(sum, ip->src, addr_len);
		sum = csum_add(sum, ip->dst, addr_len);
		sum += proto;
		sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
	}
	sum = csum_add(sum, l4, len);
	csum = csum_fold(sum);
	/* UDP sends a computed 0 as all ones: 0 means "no checksum". */
	if (proto == WIRE_PROTO_UDP && csum == 0)
		csum = 0xffff;
	put_be16(l4 + csum_off, csum);
}

size_t write_tcp_header(uint8_t *p, const struct tcp_params *t)
{
	size_t hdr_len = TCP_HDR_LEN + (t->syn_options ? TCP_SYN_OPTIONS_LEN : 0);

	put_be16(p + TCP_OFF_SPORT, t->sport);
	put_be16(p + TCP_OFF_DPORT, t->dport);
	put_be32(p + TCP_OFF_SEQ, t->seq);
	put_be32(p + TCP_OFF_ACK, t->ack);
	p[TCP_OFF_DOFF] = (uint8_t)(hdr_len / 4 << 4);
	p[TCP_OFF_FLAGS] = t->flags;
	put_be16(p + TCP_OFF_WINDOW, t->window);
	put_be16(p + TCP_OFF_CSUM, 0);
	put_be16(p + TCP_OFF_URG, 0);
	if (t->syn_options) {
		uint8_t *o = p + TCP_OFF_OPTIONS;

		/* MSS; NOP NOP SACK permitted; NOP window scale 7 */
		o[0] = 2;
		o[1] = 4;
		put_be16(o + 2, t->mss);
		o[4] = 1;
		o[5] = 1;
		o[6] = 4;
		o[7] = 2;
		o[8] = 1;
		o[9] = 3;
		o[10] = 3;
		o[11] = 7;
	}
	return hdr_len;
}

size_t write_tcp(uint8_t *p, const struct tcp_params *t, size_t payload_len, struct prng *rng)
{
	size_t hdr_len = write_tcp_header(p, t);

	prng_fill(rng, p + hdr_len, payload_len);
	return hdr_len + payload_len;
}

size_t write_udp_header(uint8_t *p, uint16_t sport, uint16_t dport, size_t payload_len)
{
	put_be16(p + UDP_OFF_SPORT, sport);
	put_be16(p + UDP_OFF_DPORT, dport);
	put_be16(p + UDP_OFF_LEN, (uint16_t)(UDP_HDR_LEN + payload_len));
	put_be16(p + UDP_OFF_CSUM, 0);
	return UDP_HDR_LEN;
}

size_t write_udp(uint8_t *p, uint16_t sport, uint16_t dport, size_t payload_len,
		 struct prng *rng)
{
	size_t hdr_len = write_udp_header(p, sport, dport, payload_len);

	prng_fill(rng, p + hdr_len, payload_len);
	return hdr_len + payload_len;
}

size_t write_icmp_echo(uint8_t *p, uint8_t family, uint16_t ident, uint16_t seq,
		       size_t payload_len, struct prng *rng)
{
	p[ICMP_OFF_TYPE] = family == 4 ? WIRE_ICMP_ECHO_REQUEST : WIRE_ICMPV6_ECHO_REQUEST;
	p[ICMP_OFF_CODE] = 0;
	put_be16(p + ICMP_OFF_CSUM, 0);
	put_be16(p + ICMP_OFF_REST, ident);
	put_be16(p + ICMP_OFF_REST + 2, seq);
	prng_fill(rng, p + ICMP_HDR_LEN, payload_len);
	return ICMP_HDR_LEN + payload_len;
}

size_t write_icmp_error(uint8_t *p, uint8_t type, uint8_t code, uint32_t rest,
			const uint8_t *quote, size_t quote_len)
{
	p[ICMP_OFF_TYPE] = type;
	p[ICMP_OFF_CODE] = code;
	put_be16(p + ICMP_OFF_CSUM, 0);
	put_be32(p + ICMP_OFF_REST, rest);
	memcpy(p + ICMP_HDR_LEN, quote, quote_len);
	return ICMP_HDR_LEN + quote_len;
}

size_t write_arp_request(uint8_t *frame, const uint8_t sender_ip[4], const uint8_t target_ip[4])
{
	const struct l2_params l2 = {.broadcast = true};
	uint8_t *arp = frame + write_eth(frame, &l2, WIRE_ETHERTYPE_ARP);

	put_be16(arp + ARP_OFF_HTYPE, 1); /* Ethernet */
	put_be16(arp + ARP_OFF_PTYPE, WIRE_ETHERTYPE_IPV4);
	arp[ARP_OFF_HLEN] = ETH_ADDR_LEN;
	arp[ARP_OFF_PLEN] = 4;
	put_be16(arp + ARP_OFF_OPER, 1); /* request */
	memcpy(arp + ARP_OFF_SHA, wire_client_mac, ETH_ADDR_LEN);
	memcpy(arp + ARP_OFF_SPA, sender_ip, 4);
	memset(arp + ARP_OFF_THA, 0, ETH_ADDR_LEN);
	memcpy(arp + ARP_OFF_TPA, target_ip, 4);
	return ETH_HDR_LEN + ARP_IPV4_LEN;
}

size_t frame_compose(uint8_t *frame, const struct l2_params *l2, const struct ip_params *ip,
		     size_t upper_len, bool fill_l4_checksum)
{
	size_t off = write_eth(frame, l2, ip->family == 4 ? WIRE_ETHERTYPE_IPV4
							   : WIRE_ETHERTYPE_IPV6);

	off += write_ip_headers(frame + off, ip, upper_len);
	if (fill_l4_checksum)
		l4_fill_checksum(ip, ip->proto, frame + off, upper_len);
	return off + upper_len;
}
