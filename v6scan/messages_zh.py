"""The English that reason parameters carry, in Simplified Chinese.

A reason's parameters are measured text: an error from the resolver, the network classifier or
the fetcher, why a check did not run, how two pages differ, an address's registry name.  They
are stored in English (the evidence is language-neutral data); :func:`localise` gives the
Chinese text a zh-CN reason shows (:mod:`v6scan.messages` applies it to every string
parameter).  What it does not know, and every name, address, number, quoted page title, record
type, technical term and library exception class inside a phrase, stays as it is.

Two tables: :data:`EXACT` (whole phrases) and :data:`PATTERNS` (phrases with variable parts),
tried in order.  A pattern is English text with placeholders, each the part of the value it
stands for (the parts are found left to right, each at the first place its following text
occurs; ``*`` makes a part extend to the last such place):

- ``{x}`` free text, localised in its turn (a nested phrase);
- ``{k}`` kept as it is (a title, a URL, a list of names; Python's ``None`` reads as none);
- ``{t}`` one token kept as it is (no white space: a name, an address, a number);
- ``{T}`` an upper-case token (a record type, an RCODE, a transport);
- ``{l}`` a list separated by ``", "``, each item localised.

The Chinese side refers to the parts as ``{0}``, ``{1}``...  A pattern written with a leading
``?``, and one whose English has no letters, is transparent: it applies only when one of its
parts translates.  A value that nothing matches but that holds ``"; "`` (or ``", "``) is
localised part by part.

Linear time: matching is ``startswith``/``endswith``/``find`` from left to right, never
backtracking; nesting is followed :data:`MAX_DEPTH` deep at most, and one call examines at most
``_WORK`` times as many characters as its value has (then the rest stays as it is).

Full-width punctuation is written as ``\\uXXXX`` escapes in this file (ruff's RUF001).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["EXACT", "MAX_DEPTH", "PATTERNS", "Pattern", "localise"]

#: how deep nested phrases are localised (deeper text is kept as it is)
MAX_DEPTH = 8
#: the characters one call may examine, per character of its value (a bound on the work that a
#: hostile value nesting phrases in many ways can cause; ordinary phrases use a few)
_WORK = 64
#: ... and what each value examined costs besides its characters
_VISIT = 16
#: values up to this length are remembered (the same errors recur across a sweep's sites)
_CACHED_CHARS = 400

#: an IANA special-purpose address registry name (v6scan.addresses) -> its Chinese name
REGISTRY: dict[str, str] = {
    '"This network" (RFC 791)': "“本网络”\uff08RFC 791\uff09",
    '"This host on this network" (RFC 1122)': "“本网络上的本主机”\uff08RFC 1122\uff09",
    "Private-Use (RFC 1918)": "私有地址\uff08RFC 1918\uff09",
    "Shared Address Space (RFC 6598)": "共享地址空间\uff08RFC 6598\uff09",
    "Loopback (RFC 1122)": "环回地址\uff08RFC 1122\uff09",
    "Link Local (RFC 3927)": "链路本地地址\uff08RFC 3927\uff09",
    "IETF Protocol Assignments (RFC 6890)": "IETF 协议分配地址\uff08RFC 6890\uff09",
    "IPv4 Service Continuity Prefix (RFC 7335)": "IPv4 服务连续性前缀\uff08RFC 7335\uff09",
    "IPv4 dummy address (RFC 7600)": "IPv4 虚设地址\uff08RFC 7600\uff09",
    "Port Control Protocol Anycast (RFC 7723)": "端口控制协议任播地址\uff08RFC 7723\uff09",
    "Traversal Using Relays around NAT Anycast (RFC 8155)": "TURN 中继穿越任播地址\uff08RFC 8155\uff09",
    "NAT64/DNS64 Discovery (RFC 7050)": "NAT64/DNS64 发现地址\uff08RFC 7050\uff09",
    "Documentation (TEST-NET-1) (RFC 5737)": "文档示例地址 TEST-NET-1\uff08RFC 5737\uff09",
    "AS112-v4 (RFC 7535)": "AS112 服务地址\uff08IPv4\uff0cRFC 7535\uff09",
    "AMT (RFC 7450)": "AMT 自动组播隧道地址\uff08RFC 7450\uff09",
    "Deprecated (6to4 Relay Anycast) (RFC 7526)": "已废弃\uff086to4 中继任播地址\uff0cRFC 7526\uff09",
    "Direct Delegation AS112 Service (RFC 7534)": "AS112 直接授权服务地址\uff08RFC 7534\uff09",
    "Benchmarking (RFC 2544)": "基准测试地址\uff08RFC 2544\uff09",
    "Documentation (TEST-NET-2) (RFC 5737)": "文档示例地址 TEST-NET-2\uff08RFC 5737\uff09",
    "Documentation (TEST-NET-3) (RFC 5737)": "文档示例地址 TEST-NET-3\uff08RFC 5737\uff09",
    "Multicast (RFC 5771)": "组播地址\uff08RFC 5771\uff09",
    "Reserved (RFC 1112)": "保留地址\uff08RFC 1112\uff09",
    "Limited Broadcast (RFC 919)": "受限广播地址\uff08RFC 919\uff09",
    "Unspecified Address (RFC 4291)": "未指定地址\uff08RFC 4291\uff09",
    "Loopback Address (RFC 4291)": "环回地址\uff08RFC 4291\uff09",
    "IPv4-compatible (deprecated, RFC 4291)": "IPv4 兼容地址\uff08已废弃\uff0cRFC 4291\uff09",
    "IPv4-mapped Address (RFC 4291)": "IPv4 映射地址\uff08RFC 4291\uff09",
    "IPv4-IPv6 Translation (RFC 6052)": "IPv4/IPv6 转换地址\uff08RFC 6052\uff09",
    "IPv4-IPv6 Translation, local use (RFC 8215)": "IPv4/IPv6 转换地址\uff0c本地使用\uff08RFC 8215\uff09",
    "Discard-Only Address Block (RFC 6666)": "仅丢弃地址块\uff08RFC 6666\uff09",
    "Dummy IPv6 Prefix (RFC 9780)": "IPv6 虚设前缀\uff08RFC 9780\uff09",
    "IETF Protocol Assignments (RFC 2928)": "IETF 协议分配地址\uff08RFC 2928\uff09",
    "TEREDO (RFC 4380)": "Teredo 隧道地址\uff08RFC 4380\uff09",
    "TURN Anycast (RFC 8155)": "TURN 任播地址\uff08RFC 8155\uff09",
    "DNS-SD Service Registration Protocol Anycast (RFC 9665)": "DNS-SD 服务注册协议任播地址\uff08RFC 9665\uff09",
    "Benchmarking (RFC 5180)": "基准测试地址\uff08RFC 5180\uff09",
    "AS112-v6 (RFC 7535)": "AS112 服务地址\uff08IPv6\uff0cRFC 7535\uff09",
    "Deprecated (previously ORCHID) (RFC 4843)": "已废弃\uff08原 ORCHID 地址\uff0cRFC 4843\uff09",
    "ORCHIDv2 (RFC 7343)": "ORCHIDv2 地址\uff08RFC 7343\uff09",
    "Drone Remote ID Protocol Entity Tags (RFC 9374)": "无人机远程 ID 协议实体标签\uff08RFC 9374\uff09",
    "Documentation (RFC 3849)": "文档示例地址\uff08RFC 3849\uff09",
    "6to4 (RFC 3056)": "6to4 地址\uff08RFC 3056\uff09",
    "Documentation (RFC 9637)": "文档示例地址\uff08RFC 9637\uff09",
    "Segment Routing (SRv6) SIDs (RFC 9602)": "SRv6 段路由 SID\uff08RFC 9602\uff09",
    "Unique-Local (RFC 4193)": "唯一本地地址\uff08RFC 4193\uff09",
    "Link-Local Unicast (RFC 4291)": "链路本地单播地址\uff08RFC 4291\uff09",
    "Site-Local (deprecated, RFC 3879)": "站点本地地址\uff08已废弃\uff0cRFC 3879\uff09",
    "Multicast (RFC 4291)": "组播地址\uff08RFC 4291\uff09",
    "Reserved by IETF (outside the global unicast space 2000::/3)":
        "IETF 保留地址\uff08不在全球单播地址空间 2000::/3 内\uff09",
    "a global unicast address": "全球单播地址",
    "outside 2000::/3": "不在 2000::/3 内",
}

#: whole phrases -> Chinese
EXACT: dict[str, str] = {
    **REGISTRY,
    # what a measurement came to (model.Status), as a status parameter or a reason on its own
    "ok": "正常",
    "timeout": "超时",
    "refused": "连接被拒绝",
    "unreachable": "不可达",
    "nxdomain": "NXDOMAIN",
    "nodata": "NODATA",
    "servfail": "SERVFAIL",
    "tls_error": "TLS 错误",
    "http_error": "HTTP 错误",
    "blocked": "不允许连接\uff08不在允许连接的网络内\uff09",
    "excluded": "在排除列表中",
    "skipped": "已跳过",
    "error": "错误",
    "None": "无",
    "none": "无",
    "system": "系统默认",
    # an SMTP dialogue's outcome (checks.mail), a TLS row not attempted (web.tls), a port not probed
    "greets": "正常问候",
    "bad_greeting": "问候异常",
    "bad_ehlo": "EHLO 应答异常",
    "silent": "连接后无应答",
    "no_starttls": "不提供 STARTTLS",
    "starttls_refused": "拒绝 STARTTLS",
    "not_attempted": "未尝试",
    "not_needed": "无需",
    "not probed": "未探测",
    # a certificate's problem (net.VERIFY_CODES)
    "not_yet_valid": "尚未生效",
    "expired": "已过期",
    "self_signed": "自签名证书",
    "self_signed_in_chain": "证书链中有自签名证书",
    "unknown_issuer": "颁发者未知\uff08证书链无法验证\uff09",
    "name_mismatch": "与主机名不符",
    "invalid": "无效",
    # where a transfer stalled (path.pmtu) and where a fetch timed out (fetch)
    "connect": "建立连接",
    "handshake": "TLS 握手",
    "request": "发送请求",
    "response": "等待响应",
    "body": "接收正文",
    "connecting": "连接阶段",
    "during the TLS handshake": "TLS 握手阶段",
    "waiting for the response": "等待响应阶段",
    "reading the body": "读取正文阶段",
    # a part of the latency breakdown (web.latency PARTS)
    "dns_ms": "DNS 解析时间",
    "connect_ms": "TCP 连接时间",
    "tls_ms": "TLS 握手时间",
    "first_byte_ms": "首字节时间",
    "download_ms": "首页下载时间",
    "rate_bps": "首页下载速率",
    # ... and its English names (web.latency PART_NAMES), in the latency_v6_part_slow reason
    "DNS resolution time": "DNS 解析时延",
    "TCP connect time": "TCP 连接时延",
    "TLS handshake time": "TLS 握手时延",
    "time to the first byte": "服务器响应首包时延",
    "homepage download time": "首页响应时延",
    "homepage download rate": "首页下载速度",
    # the role of an address (path.frag)
    "web server": "网站服务器",
    "name server": "域名服务器",
    # the scanner's resolver (resolver.py)
    "the name does not exist (NXDOMAIN)": "该名称不存在\uff08NXDOMAIN\uff09",
    "the name exists but has no record of this type": "该名称存在\uff0c但没有此类型的记录",
    "the resolver could not get an answer (SERVFAIL)": "解析服务器未能获得应答\uff08SERVFAIL\uff09",
    "the resolver refused the query (REFUSED)": "解析服务器拒绝了查询\uff08REFUSED\uff09",
    "no answer from the resolver in time": "解析服务器未在时限内应答",
    "could not reach the resolver": "无法连接解析服务器",
    "the resolver said the query was malformed (FORMERR)": "解析服务器认为查询格式错误\uff08FORMERR\uff09",
    "malformed answer from the resolver": "解析服务器的应答格式错误",
    "the resolver does not implement this query (NOTIMP)": "解析服务器不支持此查询\uff08NOTIMP\uff09",
    "the name cannot be queried": "该名称无法查询",
    "the resolver closed the connection": "解析服务器关闭了连接",
    "the name exists but has neither A nor AAAA records": "该名称存在\uff0c但既没有 A 记录也没有 AAAA 记录",
    "no zone with an NS RRset above the name": "该名称之上没有带 NS 记录集的区域",
    "CNAME chain too long": "CNAME 链过长",
    "too many referrals": "转介次数过多",
    "the root hints have no IPv6 address": "根提示中没有 IPv6 地址",
    "every IPv6 address of the root hints is outside the allowed networks":
        "根提示中的所有 IPv6 地址都不在允许连接的网络内",
    "answered without the AA flag: not authoritative for the name (lame)":
        "应答未设置 AA 标志\uff1a对该名称没有权威\uff08失效授权\uff09",
    "truncated: retried over TCP": "应答被截断\uff1a已改用 TCP 重试",
    # name servers (dns.ns_aaaa, dns.ns_reach)
    "the name servers have no addresses": "域名服务器没有地址",
    "every name server address is outside the allowed networks": "所有域名服务器地址都不在允许连接的网络内",
    "no name server has a usable IPv6 address": "没有域名服务器具有可用的 IPv6 地址",
    # DNSSEC (dns.dnssec, and dnspython's validation failures)
    "no RRSIG": "没有 RRSIG 签名",
    "no DNSKEY record": "没有 DNSKEY 记录",
    "no IPv6 name-server address the scanner may contact": "没有扫描器可以连接的 IPv6 域名服务器地址",
    "answered without authority (lame)": "应答没有权威\uff08失效授权\uff09",
    "the chain of trust could not be followed": "无法沿信任链完成验证",
    "not yet valid": "尚未生效",
    "verify failure": "签名验证失败",
    "unknown key": "未知密钥",
    "invalid public key": "公钥无效",
    "RRSIG does not cover the RRset": "RRSIG 签名未覆盖该记录集",
    "owner names do not match": "所有者名称不一致",
    "no RRSIGs validated": "没有 RRSIG 签名通过验证",
    "expected an RRSIG": "此处应为 RRSIG 签名",
    "owner name longer than RRSIG labels": "所有者名称的标签数多于 RRSIG 所记",
    "wild owner name has wrong label length": "通配所有者名称的标签数有误",
    "relative RR name without an origin specified": "相对记录名未指定起点",
    # the network classifier (net.classify_error), the OS and the TLS library
    "timed out": "超时",
    "connection refused": "连接被拒绝",
    "connection reset by the peer": "连接被对方重置",
    "connection failed": "连接失败",
    "the peer closed the connection": "对方关闭了连接",
    "response headers exceed the caps (more than 100 KiB)": "响应头超出上限\uff08超过 100 KiB\uff09",
    "read timed out": "读取超时",
    "write timed out": "写入超时",
    "connect timed out": "连接超时",
    "TLS handshake timed out": "TLS 握手超时",
    "The handshake operation timed out": "握手操作超时",
    "The read operation timed out": "读取操作超时",
    "The write operation timed out": "写入操作超时",
    "Network is unreachable": "网络不可达",
    "No route to host": "没有到该主机的路由",
    "Cannot assign requested address": "无法分配所请求的地址",
    "Network is down": "网络已断开",
    "Host is down": "主机已关闭",
    "Address family not supported by protocol": "协议不支持该地址族",
    "Connection refused": "连接被拒绝",
    "Connection reset by peer": "连接被对方重置",
    "Connection timed out": "连接超时",
    "Connection aborted": "连接中止",
    "Software caused connection abort": "软件导致连接中止",
    "Broken pipe": "管道已断开",
    "Permission denied": "权限不足",
    "Operation not permitted": "操作不被允许",
    "Message too long": "消息过长",
    "No buffer space available": "缓冲区空间不足",
    "Too many open files": "打开的文件过多",
    "Invalid argument": "参数无效",
    "Resource temporarily unavailable": "资源暂时不可用",
    "Protocol not available": "协议不可用",
    "certificate has expired": "证书已过期",
    "certificate is not yet valid": "证书尚未生效",
    "self-signed certificate": "自签名证书",
    "self signed certificate": "自签名证书",
    "self-signed certificate in certificate chain": "证书链中有自签名证书",
    "self signed certificate in certificate chain": "证书链中有自签名证书",
    "unable to get local issuer certificate": "无法获取本地颁发者证书",
    "unable to get issuer certificate": "无法获取颁发者证书",
    "unable to verify the first certificate": "无法验证第一张证书",
    "certificate signature failure": "证书签名验证失败",
    "certificate revoked": "证书已被吊销",
    "invalid CA certificate": "CA 证书无效",
    "path length constraint exceeded": "超出证书路径长度限制",
    "unsupported certificate purpose": "证书用途不符",
    "certificate not trusted": "证书不受信任",
    "certificate rejected": "证书被拒绝",
    "certificate chain too long": "证书链过长",
    "EE certificate key too weak": "终端证书的密钥强度不足",
    "CA certificate key too weak": "CA 证书的密钥强度不足",
    "CA signature digest algorithm too weak": "CA 证书签名摘要算法强度不足",
    "hostname mismatch": "主机名不匹配",
    # HTTP/1.1 protocol errors (h11, httpcore)
    "Server disconnected without sending a response.": "服务器未发送响应就断开了连接",
    "peer unexpectedly closed connection": "对方意外关闭了连接",
    "peer closed connection without sending complete message body (incomplete chunked read)":
        "对方未发送完整的消息正文就关闭了连接\uff08分块读取不完整\uff09",
    "no response line received": "未收到响应行",
    "continuation line at start of headers": "响应头以续行开头",
    "bad Content-Length": "内容长度头部无效",
    "conflicting Content-Length headers": "内容长度头部相互冲突",
    "multiple Transfer-Encoding headers": "有多个传输编码头部",
    "Only Transfer-Encoding: chunked is supported": "只支持分块传输编码",
    "Receive buffer too long": "接收缓冲区过长",
    "Can't receive data when peer state is ERROR": "对方处于错误状态\uff0c无法接收数据",
    "A DNS query response does not respond to the question asked.": "DNS 应答与所问的问题不符",
    # the fetcher (fetch.py) and why a URL is not fetched (markup.url_problem)
    "corrupt compressed body": "压缩的正文已损坏",
    "malformed URL": "URL 格式错误",
    "not an absolute URL": "不是绝对 URL",
    "IP-literal host": "主机是 IP 地址字面量",
    "no host": "没有主机名",
    "invalid host (empty or overlong label)": "主机名无效\uff08标签为空或过长\uff09",
    "invalid host (not valid IDNA)": "主机名无效\uff08不是有效的 IDNA\uff09",
    "invalid port": "端口无效",
    "port 0": "端口 0",
    "no final page": "没有最终页面",
    # why a check did not run (engine, scoring, the checks)
    "the name did not resolve": "该名称无法解析",
    "DNS failed": "DNS 查询失败",
    "a probe was cancelled unexpectedly": "探测意外被取消",
    "the scanner's resolver did not answer": "扫描器的解析服务器未应答",
    "measured while the scanner's own IPv6 failed (self-check)": "测量时扫描器自身的 IPv6 出现故障\uff08自检\uff09",
    "no scoring rule yet": "尚无评分规则",
    "on the exclusion list": "在排除列表中",
    "the name has no address": "该名称没有地址",
    "no address of the name may be contacted": "该名称没有允许连接的地址",
    "no usable IPv6 address": "没有可用的 IPv6 地址",
    "no address probed": "未探测任何地址",
    "no usable IPv6 address (an IPv4-only site: dns.aaaa judges it)":
        "没有可用的 IPv6 地址\uff08纯 IPv4 网站\uff1a由 dns.aaaa 评判\uff09",
    "no usable IPv4 address (an IPv6-only site: nothing to fall back to)":
        "没有可用的 IPv4 地址\uff08纯 IPv6 网站\uff1a无可回退\uff09",
    "no address serves HTTP or HTTPS": "没有地址提供 HTTP 或 HTTPS 服务",
    "nothing to fetch": "没有可获取的页面",
    "nothing fetched": "未获取到页面",
    "no IPv6 address accepts HTTP or HTTPS": "没有 IPv6 地址接受 HTTP 或 HTTPS 连接",
    "no HTTPS page reached over IPv6": "未通过 IPv6 访问到 HTTPS 页面",
    "no address accepts on port 443": "没有地址在 443 端口接受连接",
    "no address offers HTTPS": "没有地址提供 HTTPS",
    "no IPv6 address offers HTTPS": "没有 IPv6 地址提供 HTTPS",
    "no IPv6 address serves the site": "没有 IPv6 地址提供该网站",
    "no response to web.http's first try (it was tried again)": "web.http 的首次尝试没有响应\uff08已重试\uff09",
    "no homepage was fetched over either family": "两种地址族均未获取到首页",
    "the homepage has no internal links (that may be contacted)": "首页没有\uff08允许访问的\uff09内部链接",
    "no internal links": "没有内部链接",
    "the homepage loads no subresources (that may be contacted)": "首页没有加载\uff08允许访问的\uff09子资源",
    "no subresources": "没有子资源",
    "an IPv4 address literal": "IPv4 地址字面量",
    "no pages to compare": "没有可比较的页面",
    "IPv6 and IPv4": "IPv6 和 IPv4",
    "HTTP status differs": "HTTP 状态码不同",
    "similarity below the threshold": "相似度低于阈值",
    "neither port 80 nor 443 accepts connections": "80 和 443 端口都不接受连接",
    "no HTTPS record": "没有 HTTPS 记录",
    "no resolver address to ask (none given and none in /etc/resolv.conf)":
        "没有可询问的解析服务器地址\uff08未指定\uff0c/etc/resolv.conf 中也没有\uff09",
    "no AAAA record": "没有 AAAA 记录",
    "no IPv6 web or name-server address to probe": "没有可探测的 IPv6 网站或域名服务器地址",
    "raw IPv6 packets need a raw socket (CAP_NET_RAW): run as root or grant cap_net_raw":
        "发送原始 IPv6 报文需要原始套接字\uff08CAP_NET_RAW\uff09\uff1a"
        "请以超级用户身份运行\uff0c或授予 CAP_NET_RAW 能力",
    "ICMPv6 needs a raw socket (CAP_NET_RAW): run as root or grant cap_net_raw":
        "ICMPv6 需要原始套接字\uff08CAP_NET_RAW\uff09\uff1a请以超级用户身份运行\uff0c或授予 CAP_NET_RAW 能力",
    "no CAP_NET_RAW": "没有 CAP_NET_RAW 能力",
    "not permitted": "不被允许",
    "no IPv6 address answered ICMPv6 echo": "没有 IPv6 地址应答 ICMPv6 回显",
    "no IPv6 address answered ICMPv6 echo or a TCP transfer": "没有 IPv6 地址应答 ICMPv6 回显或 TCP 传输",
    "no IPv6 address accepts on port 80 or 443": "没有 IPv6 地址在 80 或 443 端口接受连接",
    "nothing to probe": "没有可探测的对象",
    # mail (checks.mail)
    "the domain publishes no MX: no mail service to test": "该域名未发布 MX 记录\uff1a没有可测试的邮件服务",
    "the domain accepts no mail (null MX)": "该域名不接收邮件\uff08空 MX\uff09",
    "no MX host has a usable IPv6 address": "没有 MX 主机具有可用的 IPv6 地址",
    "every MX host is on the exclusion list": "所有 MX 主机都在排除列表中",
    "every MX host is on the exclusion list: not contacted": "所有 MX 主机都在排除列表中\uff0c未连接",
    "a null MX must be the only MX record (RFC 7505)": "空 MX 必须是唯一的 MX 记录\uff08RFC 7505\uff09",
    "no IPv6 address of a mail server answered EHLO": "没有邮件服务器的 IPv6 地址应答 EHLO",
    "(a line longer than the read buffer)": "\uff08一行超过了读取缓冲区\uff09",
    # HSTS headers (web.hsts_v6)
    "a quoted value that never ends": "引号中的值没有结束",
    "a value without a directive name": "有值但没有指令名",
    "no max-age": "没有 max-age",
    # the scanner's own IPv6 (self.v6)
    "the self-check was turned off": "自检已关闭",
    "the self-check address must be IPv6": "自检地址必须是 IPv6 地址",
    "turned off": "已关闭",
    "global address": "全球地址",
    "special-purpose address allowed by --allow-net": "经 --allow-net 允许的特殊用途地址",
}

#: (English with placeholders, Chinese) in the order they are tried: the more specific first
_PATTERNS: tuple[tuple[str, str], ...] = (
    # a probe that needed more than one try (rules.retried_result)
    ("{x*} ({t} tries)", "{0}\uff08尝试 {1} 次\uff09"),
    # the scanner's resolver and the lookups of a name (resolver.py, checks.dns)
    ("{T} lookup: {x}", "{0} 查询\uff1a{1}"),
    ("resolver error: {k}", "解析服务器错误\uff1a{0}"),
    ("the name cannot be queried: {k}", "该名称无法查询\uff1a{0}"),
    ("CNAME loop: {k}", "CNAME 循环\uff1a{0}"),
    ("CNAME chain longer than {t}", "CNAME 链长度超过 {0}"),
    ("no {T} record at the end of the CNAME chain ({t})", "CNAME 链末端\uff08{1}\uff09没有 {0} 记录"),
    ("the scanner's resolver ({x}) does not answer: {x}; it did not answer a canary query either ({x})",
     "扫描器的解析服务器\uff08{0}\uff09未应答\uff1a{1}\uff1b它对探测查询也未应答\uff08{2}\uff09"),
    ("the name is an alias of {t}, which is on the exclusion list ({k}): not contacted",
     "该名称是 {0} 的别名\uff0c而后者在排除列表中\uff08{1}\uff09\uff0c未连接"),
    ("the NS lookup of {t} failed: {x}", "{0} 的 NS 查询失败\uff1a{1}"),
    ("no {t} address given with --address", "--address 没有给出 {0} 地址"),
    # name servers and the IPv6-only path (checks.dns)
    ("no name servers to probe: {x}", "没有可探测的域名服务器\uff1a{0}"),
    ("every name server of {t} is on the exclusion list: not contacted",
     "{0} 的所有域名服务器都在排除列表中\uff0c未连接"),
    ("every name server of {t} is on the exclusion list ({k}): not contacted",
     "{0} 的所有域名服务器都在排除列表中\uff08{1}\uff09\uff0c未连接"),
    ("{t} name server(s) with IPv6; not looked up (on the exclusion list): {k}",
     "{0} 台域名服务器有 IPv6 地址\uff1b未查询\uff08在排除列表中\uff09\uff1a{1}"),
    ("gave up after {t} queries", "查询 {0} 次后放弃"),
    ("every IPv6 name server address of {t} is outside the allowed networks",
     "{0} 的所有 IPv6 域名服务器地址都不在允许连接的网络内"),
    ("the name servers of {t} answered {T} over IPv6 (lame delegation)",
     "{0} 的域名服务器通过 IPv6 应答 {1}\uff08失效授权\uff09"),
    ("the name servers of {t} answered with malformed messages ({l})",
     "{0} 的域名服务器返回了格式错误的消息\uff08{1}\uff09"),
    ("no name server of {t} answered over IPv6 ({l})", "{0} 的域名服务器均未通过 IPv6 应答\uff08{1}\uff09"),
    ("no root server answered over IPv6 from this scanner ({t} addresses in the root hints, each tried {t} times):"
     " the scanner's network or its root hints, not the site",
     "本扫描器通过 IPv6 未得到任何根服务器的应答\uff08根提示中有 {0} 个地址\uff0c每个尝试 {1} 次\uff09\uff1a"
     "问题在扫描器的网络或根提示\uff0c而不在网站"),
    ("the servers of {t} gave neither an answer nor a referral closer to the name",
     "{0} 的服务器既没有给出应答\uff0c也没有给出更接近该名称的转介"),
    ("none of the name servers of {t} ({k}) has an IPv6 address (no AAAA glue or record)",
     "{0} 的域名服务器\uff08{1}\uff09都没有 IPv6 地址\uff08没有 AAAA 粘连记录\uff0c也没有 AAAA 记录\uff09"),
    ("answered {T}: does not serve {t} (lame)", "应答 {0}\uff1a不提供 {1} 的解析服务\uff08失效授权\uff09"),
    ("answered {T}", "应答 {0}"),
    ("{t} {t} udp: {x}", "{0} {1}\uff08UDP\uff09\uff1a{2}"),  # a failed probe (dns.ns_reach's ``failed``)
    ("{t} {t} tcp: {x}", "{0} {1}\uff08TCP\uff09\uff1a{2}"),
    ("{t} {t} udp", "{0} {1}\uff08UDP\uff09"),
    ("{t} {t} tcp", "{0} {1}\uff08TCP\uff09"),
    # direct DNS queries (dnsdirect.py)
    ("no answer over {T} within {t} s", "{1} 秒内未收到 {0} 应答"),
    ("connection refused over {T}", "{0} 连接被拒绝"),
    ("malformed answer over {T}: {t}", "{0} 应答格式错误\uff1a{1}"),  # {t}: the exception class, one token
    ("bad answer over {T}: {x}", "{0} 应答有误\uff1a{1}"),
    ("cannot build the query: {k}", "无法构造查询\uff1a{0}"),
    ("the server answered {T}", "服务器应答 {0}"),
    ("the resolver answered {T}", "解析服务器应答 {0}"),
    # DNSSEC (checks.dns_dnssec)
    ("RRSIG {t}: {x}", "RRSIG 签名 {0}\uff1a{1}"),
    ("no DNSKEY matches the DS records ({k})", "没有与 DS 记录\uff08{0}\uff09相符的 DNSKEY"),
    ("the DNSKEY RRset does not validate: {x}", "DNSKEY 记录集未通过验证\uff1a{0}"),
    ("the DS RRset does not validate: {x}", "DS 记录集未通过验证\uff1a{0}"),
    ("the DNSKEY answer of {k} does not validate: {x}", "{0} 的 DNSKEY 应答未通过验证\uff1a{1}"),
    ("the DS query got no answer ({x})", "DS 查询没有得到应答\uff08{0}\uff09"),
    ("no root server answered the DNSKEY query over IPv6 ({x})",
     "没有根服务器通过 IPv6 应答 DNSKEY 查询\uff08{0}\uff09"),
    ("the root zone does not validate against the trust anchors ({k}): {x}",
     "根区无法用信任锚\uff08{0}\uff09验证\uff1a{1}"),
    ("no name server of {t} has an IPv6 address", "{0} 的域名服务器都没有 IPv6 地址"),
    ("no name server of {t} answered the DNSKEY query over IPv6 ({x})",
     "{0} 的域名服务器均未通过 IPv6 应答 DNSKEY 查询\uff08{1}\uff09"),
    ("the name servers of {t} gave neither an answer nor a referral for {t} (lame)",
     "{0} 的域名服务器对 {1} 既没有给出应答\uff0c也没有给出转介\uff08失效授权\uff09"),
    ("the trust anchor file is unusable: {k}", "信任锚文件不可用\uff1a{0}"),
    ("not a DNS name: {k}", "不是 DNS 名称\uff1a{0}"),
    # the network classifier (net.py), certificates, HTTP/1.1 (h11), the OS
    ("certificate not valid: {x}", "证书无效\uff1a{0}"),
    ("Hostname mismatch, certificate is not valid for {k}.", "主机名不匹配\uff0c证书对 {0} 无效"),
    ("IP address mismatch, certificate is not valid for {k}.", "IP 地址不匹配\uff0c证书对 {0} 无效"),
    ("TLS failed: {x}", "TLS 失败\uff1a{0}"),
    ("unreachable ({x})", "不可达\uff08{0}\uff09"),
    ("HTTP protocol error: {x}", "HTTP 协议错误\uff1a{0}"),
    ("connection broken: {x}", "连接中断\uff1a{0}"),
    ("refusing to resolve {k}: connect to an address only", "拒绝解析 {0}\uff1a只连接地址"),
    ("[Errno {t}] {x}", "错误码 {0}\uff1a{1}"),
    ("peer closed connection without sending complete message body (received {t} bytes, expected {t})",
     "对方未发送完整的消息正文就关闭了连接\uff08收到 {0} 字节\uff0c应为 {1} 字节\uff09"),
    ("illegal status line: {k}", "状态行不合法\uff1a{0}"),
    ("illegal header line: {k}", "头部行不合法\uff1a{0}"),
    ("EOF occurred in violation of protocol ({k})", "违反协议的 EOF\uff08{0}\uff09"),
    ("TLS/SSL connection has been closed (EOF) ({k})", "TLS/SSL 连接已关闭\uff08EOF\uff09\uff08{0}\uff09"),
    ("not permitted: {x}", "不被允许\uff1a{0}"),
    # the fetcher (fetch.py), redirects and URLs (markup.url_problem)
    ("timed out ({x})", "超时\uff08{0}\uff09"),
    ("not fetched: {t} is on the exclusion list ({k})", "未获取\uff1a{0} 在排除列表中\uff08{1}\uff09"),
    ("not fetched: port {t} of {t} did not accept connections ({x}; TCP probe for {k}, {t} tries)",
     "未获取\uff1a{1} 的 {0} 端口不接受连接\uff08{2}\uff1b为 {3} 做的 TCP 探测\uff0c尝试 {4} 次\uff09"),
    ("not fetched: {x}", "未获取\uff1a{0}"),
    ("unusable response: {k}", "无法使用的响应\uff1a{0}"),
    ("redirect loop back to {k}", "重定向循环回到 {0}"),
    ("redirect to an unusable location {k*}: {x}", "重定向到无法使用的地址 {0}\uff1a{1}"),
    ("redirect to {t}, which is on the exclusion list ({k}): not contacted",
     "重定向到 {0}\uff0c而该主机在排除列表中\uff08{1}\uff09\uff0c未连接"),
    ("redirect to {t}, which {x}", "重定向到 {0}\uff0c而该主机{1}"),
    ("has no {T} record (no {t})", "没有 {0} 记录\uff08不支持 {1}\uff09"),
    ("does not resolve ({x}: {x})", "无法解析\uff08{0}\uff1a{1}\uff09"),
    ("has no usable {t} address ({x})", "没有可用的 {0} 地址\uff08{1}\uff09"),
    ("more than {t} redirects", "重定向超过 {0} 次"),
    ("unsupported content-encoding {k}", "不支持的内容编码 {0}"),
    ("response headers exceed the caps ({t} headers, {t} bytes)", "响应头超出上限\uff08{0} 个头部\uff0c{1} 字节\uff09"),
    ("stacked content-encodings refused: {k}", "拒绝多重内容编码\uff1a{0}"),
    ("body slower than {t} bytes/s ({t} bytes in {t} s)", "正文传输慢于每秒 {0} 字节\uff08{2} 秒内收到 {1} 字节\uff09"),
    ("body not complete within {t} s", "正文未在 {0} 秒内传输完毕"),
    ("body: {x}", "正文\uff1a{0}"),
    ("URL longer than {t} characters", "URL 长度超过 {0} 个字符"),
    ("scheme {t}", "不支持的协议 {0}"),
    ("invalid host (character {k})", "主机名无效\uff08字符 {0}\uff09"),
    ("blocked port {t} (fetch standard bad port)", "被阻止的端口 {0}\uff08浏览器禁止访问的端口\uff09"),
    ("blocked port {t} (a non-web service port)", "被阻止的端口 {0}\uff08非 Web 服务端口\uff09"),
    ("no usable AAAA ({x})", "没有可用的 AAAA 地址\uff08{0}\uff09"),
    ("port {t}: {x}", "{0} 端口\uff1a{1}"),
    # how two pages differ (similarity.py)
    ("HTTP status differs: {x}", "HTTP 状态码不同\uff1a{0}"),
    ("title differs: {x}", "标题不同\uff1a{0}"),
    ("final URL differs: {x}", "最终 URL 不同\uff1a{0}"),
    ("size differs: {x}", "大小不同\uff1a{0}"),
    ("{t} characters over IPv6, {t} over IPv4", "IPv6 为 {0} 个字符\uff0cIPv4 为 {1} 个字符"),
    ("{k} over IPv6, {k} over IPv4", "IPv6 为 {0}\uff0cIPv4 为 {1}"),
    ("normalised body similarity {t}", "规范化后的正文相似度为 {0}"),
    # the checks' own reasons for not measuring
    ("no address accepts TCP on port {t}", "没有地址在 {0} 端口接受 TCP 连接"),
    ("no final page over {x} to compare", "没有可供比较的 {0} 最终页面"),
    ("HTTPS lookup of {t}: {x}", "{0} 的 HTTPS 查询\uff1a{1}"),
    ("the HTTPS lookup failed ({x})", "HTTPS 查询失败\uff08{0}\uff09"),
    ("the AAAA lookup of {k} failed: the hints were not compared", "{0} 的 AAAA 查询失败\uff1a未比较提示地址"),
    ("does not parse: {k}", "无法解析记录\uff1a{0}"),
    ("this machine has no IPv6 route ({x})", "本机没有 IPv6 路由\uff08{0}\uff09"),
    ("the IPv6 source address is not global ({x})", "IPv6 源地址不是全球地址\uff08{0}\uff09"),
    ("the self-check probe {t} failed: {x}", "自检探测 {0} 失败\uff1a{1}"),
    ("the self-check address {t} may not be contacted: {x}", "不允许连接自检地址 {0}\uff1a{1}"),
    ("invalid: {x}", "无效\uff1a{0}"),
    ("no value after {k}=", "{0}= 之后没有值"),
    ("unexpected character {k} at {t}", "位置 {1} 出现意外字符 {0}"),
    ("the directive {k} appears twice", "指令 {0} 出现了两次"),
    ("max-age is not a number of seconds: {k}", "max-age 不是秒数\uff1a{0}"),
    # the engine and a sweep
    ("internal error: {x}", "内部错误\uff1a{0}"),
    ("the per-target deadline of {t} s ran out", "已超出每个目标 {0} 秒的时限"),
    ("{x*}; {x}, in {t} tries (at most {t} retries across resumes): not retried again",
     "{0}\uff1b{1}\uff0c共尝试 {2} 次\uff08续扫时最多重试 {3} 次\uff09\uff1a不再重试"),
    ("the scanner failed ({k})", "扫描器出现故障\uff08{0}\uff09"),
    # where the scanner may connect (addresses.AddressPolicy)
    ("{t} is a cloud metadata endpoint: never contacted", "{0} 是云平台元数据端点\uff1a从不连接"),
    ("{t} is on the exclusion list ({k}): not contacted", "{0} 在排除列表中\uff08{1}\uff09\uff0c未连接"),
    ("{t} is on the exclusion list (it embeds {t} under the RFC 6052 /{t} layout)",
     "{0} 在排除列表中\uff08按 RFC 6052 /{2} 布局内嵌了 {1}\uff09"),
    ("{t} is on the exclusion list (it embeds {t})", "{0} 在排除列表中\uff08内嵌了 {1}\uff09"),
    ("{t} is on the exclusion list", "{0} 在排除列表中"),
    ("{x}: not contacted (use --allow-net to allow it)", "{0}\uff1a未连接\uff08如需连接\uff0c请使用 --allow-net\uff09"),
    ("{t} is a global address", "{0} 是全球地址"),
    ("{t} is {x}, embedding under the RFC 6052 /{t} layout {x}", "{0} 属于{1}\uff0c按 RFC 6052 /{2} 布局内嵌 {3}"),
    ("{t} is {x}, embedding {x}", "{0} 属于{1}\uff0c内嵌 {2}"),
    ("?{t} is {x}", "{0} 属于{1}"),
    # probes and addresses with a status
    ("{t} port {t}", "{0} 的 {1} 端口"),
    ("{t} (max-age={t})", "{0}\uff08max-age={1}\uff09"),
    ("{t} {t} {T}: {x}", "{0} {1}\uff08{2}\uff09\uff1a{3}"),
    ("{t} {t}: {x}", "{0} {1}\uff1a{2}"),
    ("{t} ({x})", "{0}\uff08{1}\uff09"),
    ("{t}: {x}", "{0}\uff1a{1}"),
)

_PLACEHOLDER = re.compile(r"\{([xktTl])(\*?)\}")
_NONE = "无"
_LIST_JOIN = "\uff1b"
#: a value that no phrase matches, split at these (tried in order) and joined again with their Chinese
_SPLITS = (("; ", "\uff1b"), (", ", "\uff0c"))


@dataclass(frozen=True, slots=True)
class Pattern:
    """One entry of :data:`PATTERNS`, read from its English."""

    english: str
    chinese: str
    #: the literal text around the parts (one more than the parts)
    pieces: tuple[str, ...]
    #: each part's kind (x, k, t, T, l) and whether it extends to the last place its next text occurs
    kinds: tuple[str, ...]
    greedy: tuple[bool, ...]
    #: applies only when one of its localised parts (x, l) changed
    transparent: bool

    @classmethod
    def parse(cls, english: str, chinese: str) -> Pattern:
        transparent = english.startswith("?")
        text = english[1:] if transparent else english
        parts = _PLACEHOLDER.split(text)  # literal, kind, star, literal, kind, star, ..., literal
        pieces, kinds, greedy = tuple(parts[0::3]), tuple(parts[1::3]), tuple(s == "*" for s in parts[2::3])
        literal = "".join(pieces)
        if not kinds or any(not p for p in pieces[1:-1]) or " " not in literal or "{" in literal:
            raise ValueError(f"bad pattern {english!r}: parts need text between them, and the text a space")
        try:
            chinese.format(*kinds)
        except (IndexError, KeyError, ValueError) as e:
            raise ValueError(f"bad pattern {english!r}: its Chinese {chinese!r} does not fit ({e})") from None
        return cls(english, chinese, pieces, kinds, greedy,
                   transparent or not any(c.isascii() and c.isalpha() for c in literal))

    def match(self, value: str) -> list[str] | None:
        """The parts of ``value`` when it has this pattern's shape, else None (linear in ``value``)."""
        head, tail = self.pieces[0], self.pieces[-1]
        end = len(value) - len(tail)
        if end < len(head) or not value.startswith(head) or not value.endswith(tail):
            return None
        pos, out = len(head), []
        last = len(self.kinds) - 1
        for i, kind in enumerate(self.kinds):
            if i == last:
                stop, after = end, end
            else:
                sep = self.pieces[i + 1]
                stop = value.rfind(sep, pos, end) if self.greedy[i] else value.find(sep, pos, end)
                after = stop + len(sep)
            if stop < pos or not _fits(kind, value[pos:stop]):
                return None
            out.append(value[pos:stop])
            pos = after
        return out


def _fits(kind: str, part: str) -> bool:
    if not part:
        return False
    if kind == "t":
        return not any(c.isspace() for c in part)
    if kind == "T":
        return part.isascii() and part.isalnum() and (part.isupper() or part.isdigit())
    return True


#: the patterns, in the order they are tried
PATTERNS: tuple[Pattern, ...] = tuple(Pattern.parse(en, zh) for en, zh in _PATTERNS)


def _first_word(p: Pattern) -> str | None:
    """The word a value must start with for ``p`` to match it (None: any word)."""
    word, space, _ = p.pieces[0].partition(" ")
    return word if space else None


#: the patterns a value may match, by its first word (in order: the ones for any word among them)
_ANY_WORD: tuple[Pattern, ...] = tuple(p for p in PATTERNS if _first_word(p) is None)
_BY_WORD: dict[str, tuple[Pattern, ...]] = {
    w: tuple(p for p in PATTERNS if _first_word(p) in (None, w)) for p in PATTERNS if (w := _first_word(p))}


class _Budget:
    """What is left of one call's work (characters to examine)."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def _apply(p: Pattern, value: str, depth: int, budget: _Budget) -> str | None:
    parts = p.match(value)
    if parts is None:
        return None
    out: list[str] = []
    changed = False
    for kind, part in zip(p.kinds, parts, strict=True):
        if kind == "x":
            text = _localise(part, depth + 1, budget)
            changed = changed or text != part
        elif kind == "l":
            items = part.split(", ")
            done = [_localise(item, depth + 1, budget) for item in items]
            changed = changed or done != items
            text = _LIST_JOIN.join(done)
        else:
            text = _NONE if kind == "k" and part == "None" else part
        out.append(text)
    if p.transparent and not changed:
        return None
    return p.chinese.format(*out)


def _split(value: str, depth: int, budget: _Budget) -> str:
    """``value`` localised part by part at ``"; "`` (else ``", "``), when a part translates."""
    for sep, joint in _SPLITS:
        if sep in value:
            parts = value.split(sep)
            done = [_localise(p, depth + 1, budget) for p in parts]
            if done != parts:
                return joint.join(done)
    return value


def _localise(value: str, depth: int, budget: _Budget) -> str:
    if depth > MAX_DEPTH or budget.left < len(value):
        return value
    budget.left -= len(value) + _VISIT
    hit = EXACT.get(value)
    if hit is not None:
        return hit
    if " " not in value:  # every pattern has a space in its text: a single token is a name, a number...
        return value
    for p in _BY_WORD.get(value.partition(" ")[0], _ANY_WORD):
        out = _apply(p, value, depth, budget)
        if out is not None:
            return out
    return _split(value, depth, budget)


def _start(value: str) -> str:
    return _localise(value, 0, _Budget(_WORK * len(value) + 1000))


@functools.lru_cache(maxsize=8192)
def _remembered(value: str) -> str:
    return _start(value)


def localise(value: str) -> str:
    """``value`` (a reason parameter: an error, why a check did not run, a difference, a registry
    name...) in Simplified Chinese; what it does not know stays as it is.  Never raises; linear in
    the length of ``value`` (times the number of patterns and :data:`MAX_DEPTH`)."""
    return _remembered(value) if len(value) <= _CACHED_CHARS else _start(value)
