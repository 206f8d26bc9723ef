"""Reasons and fix hints, in English and Simplified Chinese.

A reason is a code plus parameters; the text is rendered here, so stored
verdicts stay language-neutral and any report can be rendered in either
language.  Parameters come from scanned sites: the renderers here return
plain text, and every report escapes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from v6scan.messages_zh import localise

__all__ = ["LANGS", "MESSAGES", "TERMS", "check_title", "fix_hint", "foreign_words", "render", "ui"]

LANGS = ("en", "zh-CN")

#: code -> language -> (reason template, fix hint)
MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "self_v6_unusable": {
        "en": ("The scanner itself has no working IPv6 ({error}); IPv6 results are inconclusive.",
               "Run the scan from a network with working IPv6, or check --self-check."),
        "zh-CN": ("扫描器自身没有可用的 IPv6（{error}），IPv6 相关结果无法判定。",
                  "请在具备可用 IPv6 的网络中运行扫描，或检查 --self-check 设置。"),
    },
    "resolver_unusable": {
        "en": ("The scanner's resolver did not answer for {name} nor for a canary query ({error}); the site"
               " was not assessed.",
               "Check the scanner's network and resolver, or give a working one with --resolver ADDR."),
        "zh-CN": ("扫描器的递归解析服务器未应答 {name}，也未应答探测查询（{error}），该网站未被评估。",
                  "请检查扫描器的网络和解析服务器，或用 --resolver ADDR 指定可用的解析服务器。"),
    },
    "v6_path_roots_unreachable": {
        "en": ("No root server answered over IPv6 from the scanner's network ({error}): the IPv6-only"
               " resolution path of {name} could not be tested. This is the scanner's problem, not the site's.",
               "Run from a network that reaches the root servers over IPv6, or give reachable ones with"
               " --root-hints FILE."),
        "zh-CN": ("扫描器所在网络无法通过 IPv6 访问任何根服务器（{error}），无法检测 {name} 的纯 IPv6 解析路径。"
                  "这是扫描器一方的问题，不是网站的问题。",
                  "请在能通过 IPv6 访问根服务器的网络中运行，或用 --root-hints FILE 指定可达的根服务器。"),
    },
    "probe_retried": {
        "en": ("Some probes needed more than one try ({successes} of {attempts} attempts answered, {rate}):"
               " {probes}. Packet loss on the path, or a server that drops some packets.",
               "If this repeats, look for packet loss or rate limiting towards these addresses."),
        "zh-CN": ("部分探测需要重试（{attempts} 次尝试中 {successes} 次得到应答，{rate}）：{probes}。"
                  "路径上存在丢包，或服务器丢弃了部分数据包。",
                  "如反复出现，请排查到这些地址的丢包或限速。"),
    },
    "ipv6_only_site": {
        "en": ("{name} is IPv6-only (no IPv4 address): there is no IPv4 site to compare with.",
               "Nothing to fix: an IPv6-only site is not penalised for having no IPv4."),
        "zh-CN": ("{name} 为纯 IPv6 网站（没有 IPv4 地址），没有可供比较的 IPv4 网站。",
                  "无需修改：纯 IPv6 网站不会因没有 IPv4 而扣分。"),
    },
    "same_site_address_differs": {
        "en": ("IPv6 address {address} serves a different site than IPv4: {differences}.",
               "Make every server behind the AAAA records serve the same, current site (a stale or"
               " misconfigured server?)."),
        "zh-CN": ("IPv6 地址 {address} 提供的网站与 IPv4 不同：{differences}。",
                  "请确保 AAAA 记录对应的每台服务器都提供相同的最新网站（是否有过期或配置错误的服务器？）。"),
    },
    "dns_unresolved": {
        "en": ("{name} does not resolve: {error}.",
               "Check that the name is delegated and that its name servers answer."),
        "zh-CN": ("{name} 无法解析：{error}。", "请检查该域名的授权及其权威服务器是否正常应答。"),
    },
    "no_aaaa": {
        "en": ("{name} has no AAAA record: it is not reachable over IPv6.",
               "Publish an AAAA record for the web server's IPv6 address."),
        "zh-CN": ("{name} 没有 AAAA 记录，无法通过 IPv6 访问。", "请为网站服务器的 IPv6 地址添加 AAAA 记录。"),
    },
    "aaaa_not_usable": {
        "en": ("{name} publishes only AAAA records that cannot be used on the Internet: {addresses}.",
               "Replace them with the server's global IPv6 address (2000::/3)."),
        "zh-CN": ("{name} 的 AAAA 记录均不是可在互联网上使用的地址：{addresses}。",
                  "请改为服务器的全球单播 IPv6 地址（2000::/3）。"),
    },
    "aaaa_some_not_usable": {
        "en": ("Some AAAA records of {name} cannot be used on the Internet: {addresses}.",
               "Remove AAAA records with special-purpose addresses."),
        "zh-CN": ("{name} 的部分 AAAA 记录不可在互联网上使用：{addresses}。", "请删除使用特殊用途地址的 AAAA 记录。"),
    },
    "ns_lookup_failed": {
        "en": ("The name servers of {name} could not be determined: {error}.",
               "Check the delegation of the zone (lame or broken delegation)."),
        "zh-CN": ("无法确定 {name} 的权威服务器：{error}。", "请检查该区的授权（可能存在失效授权）。"),
    },
    "ns_v6_few": {
        "en": ("Only {count} of the name servers of {zone} have an IPv6 address ({with_v6}); at least {min} "
               "are needed.", "Give at least {min} name servers of the zone an AAAA record."),
        "zh-CN": ("{zone} 只有 {count} 台权威服务器具有 IPv6 地址（{with_v6}），至少需要 {min} 台。",
                  "请为至少 {min} 台权威服务器配置 AAAA 记录。"),
    },
    "ns_v6_unreachable": {
        "en": ("Name server addresses did not answer: {failed}.",
               "Make every name server answer DNS over IPv6 on UDP and TCP port 53."),
        "zh-CN": ("以下权威服务器地址未应答：{failed}。", "请确保每台权威服务器通过 IPv6 的 UDP 和 TCP 53 端口应答。"),
    },
    "v6_path_broken": {
        "en": ("{name} cannot be resolved over IPv6 only: {reason}.",
               "Give the servers of {zone} IPv6 addresses (with AAAA glue) that answer."),
        "zh-CN": ("仅使用 IPv6 无法解析 {name}：{reason}。", "请为 {zone} 的权威服务器配置可应答的 IPv6 地址（含 AAAA 粘连记录）。"),
    },
    "web_v6_closed": {
        "en": ("IPv6 address {address} does not accept port {port} ({status}) although IPv4 does.",
               "Open port {port} on {address}: web server listening on IPv6, firewall rules."),
        "zh-CN": ("IPv6 地址 {address} 的 {port} 端口不可连接（{status}），而 IPv4 可以。",
                  "请在 {address} 上开放 {port} 端口：检查 Web 服务器的 IPv6 监听和防火墙规则。"),
    },
    "web_no_v6_server": {
        "en": ("No IPv6 address of {name} serves the site.",
               "Make the web server listen on its IPv6 address and allow ports 80 and 443."),
        "zh-CN": ("{name} 没有任何 IPv6 地址提供网站服务。", "请让 Web 服务器监听 IPv6 地址并放行 80 和 443 端口。"),
    },
    "tls_v6_invalid": {
        "en": ("The certificate on IPv6 address {address} is not valid: {problem}.",
               "Install the same valid certificate on the IPv6 virtual host as on IPv4."),
        "zh-CN": ("IPv6 地址 {address} 上的证书无效：{problem}。", "请在 IPv6 虚拟主机上部署与 IPv4 相同的有效证书。"),
    },
    "tls_v6_failed": {
        "en": ("No TLS handshake with IPv6 address {address}: {error}.",
               "Check the TLS configuration on IPv6 (and, for stalls, the path MTU: ICMPv6 Packet Too Big "
               "must not be filtered)."),
        "zh-CN": ("无法与 IPv6 地址 {address} 完成 TLS 握手：{error}。",
                  "请检查 IPv6 上的 TLS 配置；若握手停滞，请检查路径 MTU（不得过滤 ICMPv6 Packet Too Big）。"),
    },
    "tls_cert_differs": {
        "en": ("IPv6 serves a different certificate ({v6}) than IPv4 ({v4}).",
               "Serve the same certificate on both address families."),
        "zh-CN": ("IPv6 提供的证书（{v6}）与 IPv4（{v4}）不同。", "请在两种地址族上使用相同的证书。"),
    },
    "http_v6_failed": {
        "en": ("Fetching the site over IPv6 from {address} failed: {error}.",
               "Make the site answer over IPv6 as it does over IPv4."),
        "zh-CN": ("通过 IPv6 从 {address} 获取网站失败：{error}。", "请确保网站通过 IPv6 正常应答，与 IPv4 一致。"),
    },
    "http_v6_dead_end": {
        "en": ("Over IPv6 the site redirects to {host}, which has no usable IPv6.",
               "Give {host} IPv6 (an AAAA record and a server), or redirect to a host that has it."),
        "zh-CN": ("通过 IPv6 访问时网站跳转到 {host}，而该主机没有可用的 IPv6。",
                  "请为 {host} 配置 IPv6（AAAA 记录与服务），或跳转到已支持 IPv6 的主机。"),
    },
    "http_status_differs": {
        "en": ("The final HTTP status differs: {v6} over IPv6, {v4} over IPv4.",
               "Serve the same content over both address families."),
        "zh-CN": ("最终 HTTP 状态码不同：IPv6 为 {v6}，IPv4 为 {v4}。", "请在两种地址族上提供相同的内容。"),
    },
    "same_site_differs": {
        "en": ("IPv6 serves a different site: {differences}.",
               "Point the IPv6 address at the same virtual host as IPv4."),
        "zh-CN": ("IPv6 提供的是不同的网站：{differences}。", "请将 IPv6 地址指向与 IPv4 相同的虚拟主机。"),
    },
    "latency_v6_slow": {
        "en": ("IPv6 is slower than IPv4: ratio {ratio} (limit {limit}).",
               "Check IPv6 routing and peering of the hosting network."),
        "zh-CN": ("IPv6 比 IPv4 慢：时延比 {ratio}（上限 {limit}）。", "请检查托管网络的 IPv6 路由与互联。"),
    },
    "latency_v6_part_slow": {
        "en": ("IPv6's {what} is {ratio} times IPv4's ({v6} against {v4} {unit}; limit {limit}).",
               "Find where IPv6 loses time at this step: the name servers' IPv6 for DNS resolution, routing and"
               " peering for the TCP connect and the download, the IPv6 server or its proxy for the first byte."),
        "zh-CN": ("IPv6 的{what}是 IPv4 的 {ratio} 倍（{v6} 对 {v4} {unit}，限值 {limit}）。",
                  "请排查 IPv6 在这一环节的耗时：DNS 解析看域名服务器的 IPv6，TCP 连接和下载看路由与互联，首包看"
                  " IPv6 服务器或其代理。"),
    },
    "latency_v6_failures": {
        "en": ("Only {rate} of IPv6 probes succeeded.", "Find why IPv6 requests fail intermittently."),
        "zh-CN": ("IPv6 探测成功率仅为 {rate}。", "请排查 IPv6 请求间歇性失败的原因。"),
    },
    "svcb_absent": {
        "en": ("{name} publishes no HTTPS (SVCB) record; none is required.",
               "Optional: publish an HTTPS record (RFC 9460) whose ipv6hint lists the AAAA addresses and whose"
               " alpn names the protocols served (h2, h3)."),
        "zh-CN": ("{name} 未发布 HTTPS（SVCB）记录；这并非必需。",
                  "可选：发布 HTTPS 记录（RFC 9460），其 ipv6hint 列出 AAAA 记录中的地址，alpn 列出所提供的协议（h2、h3）。"),
    },
    "svcb_ipv6hint_mismatch": {
        "en": ("The HTTPS record of {name} hints IPv6 addresses that are not its AAAA records: {addresses}"
               " (AAAA: {aaaa}); clients that use the hints may connect to the wrong or a dead address.",
               "Make every ipv6hint of the HTTPS records equal to the target's AAAA records (update or remove the"
               " hint whenever the addresses change)."),
        "zh-CN": ("{name} 的 HTTPS 记录提示的 IPv6 地址不在其 AAAA 记录中：{addresses}（AAAA：{aaaa}）；"
                  "使用提示的客户端可能连接到错误或已失效的地址。",
                  "请使 HTTPS 记录中的每个 ipv6hint 与目标名称的 AAAA 记录一致（地址变更时同步更新或删除该提示）。"),
    },
    "svcb_no_ipv6hint": {
        "en": ("The HTTPS record of {name} hints IPv4 addresses but no IPv6 address although {targets} has AAAA"
               " records; clients that use the hints connect over IPv4.",
               "Add an ipv6hint with the AAAA addresses to the HTTPS record (or remove its ipv4hint)."),
        "zh-CN": ("{name} 的 HTTPS 记录提示了 IPv4 地址却没有 IPv6 地址，而 {targets} 有 AAAA 记录；"
                  "使用提示的客户端会通过 IPv4 连接。",
                  "请在 HTTPS 记录中加入列出 AAAA 地址的 ipv6hint（或删除其 ipv4hint）。"),
    },
    "svcb_no_alpn": {
        "en": ("The HTTPS record of {name} advertises no ALPN protocol: clients assume HTTP/1.1 only and do not"
               " learn of HTTP/2 or HTTP/3.",
               "Add alpn=h2 (and h3 if HTTP/3 is served) to the HTTPS record."),
        "zh-CN": ("{name} 的 HTTPS 记录未声明 ALPN 协议：客户端只会假定 HTTP/1.1，无法得知 HTTP/2 或 HTTP/3。",
                  "请在 HTTPS 记录中加入 alpn=h2（如提供 HTTP/3，再加入 h3）。"),
    },
    "happy_eyeballs_v6_dropped": {
        "en": ("No IPv6 address of {name} answers on port {port} ({addresses}): a client without Happy Eyeballs"
               " waits at least {lost_s} s before it falls back to IPv4 (an operating system's connect timeout"
               " is often much longer); an RFC 8305 client loses {he_lost_ms} ms (its {delay_ms} ms Connection"
               " Attempt Delay).",
               "Make the web server answer on its IPv6 address (listening socket, firewall, routing), or remove"
               " the AAAA record until it does: a silently dropped IPv6 address stalls older clients."),
        "zh-CN": ("{name} 的 IPv6 地址在 {port} 端口均无应答（{addresses}）：不支持 Happy Eyeballs 的客户端至少要等待"
                  " {lost_s} 秒才会回退到 IPv4（操作系统的连接超时往往长得多）；遵循 RFC 8305 的客户端损失 {he_lost_ms}"
                  " 毫秒（其 {delay_ms} 毫秒的连接尝试延迟）。",
                  "请让 Web 服务器在其 IPv6 地址上应答（监听、防火墙、路由），或在修复前删除 AAAA 记录：被静默丢弃的"
                  " IPv6 地址会让较旧的客户端长时间卡住。"),
    },
    "happy_eyeballs_v6_refused": {
        "en": ("No IPv6 address of {name} accepts port {port} ({addresses}): every client falls back to IPv4;"
               " one without Happy Eyeballs loses {lost_s} s, an RFC 8305 client {he_lost_ms} ms.",
               "Make the web server listen on its IPv6 address on port {port}, or remove the AAAA record until"
               " it does."),
        "zh-CN": ("{name} 的 IPv6 地址均不接受 {port} 端口的连接（{addresses}）：所有客户端都会回退到 IPv4；不支持"
                  " Happy Eyeballs 的客户端损失 {lost_s} 秒，遵循 RFC 8305 的客户端损失 {he_lost_ms} 毫秒。",
                  "请让 Web 服务器在其 IPv6 地址的 {port} 端口上监听，或在修复前删除 AAAA 记录。"),
    },
    "happy_eyeballs_v4_wins": {
        "en": ("An RFC 8305 client connecting to {name} on port {port} ends up on IPv4 ({address}, after {he_ms} ms):"
               " IPv6 did not connect within the {delay_ms} ms Connection Attempt Delay (IPv6 connect {v6_ms} ms,"
               " IPv4 {v4_ms} ms); it loses {he_lost_ms} ms and dual-stack users use IPv4.",
               "Find why IPv6 connects slowly or why an IPv6 address does not answer (routing, peering, firewall"
               " of the hosting network); web.reach and web.latency show which address."),
        "zh-CN": ("遵循 RFC 8305 的客户端连接 {name} 的 {port} 端口时最终使用 IPv4（{address}，耗时 {he_ms} 毫秒）：IPv6"
                  " 未能在 {delay_ms} 毫秒的连接尝试延迟内建立连接（IPv6 连接 {v6_ms} 毫秒，IPv4 {v4_ms} 毫秒）；"
                  "客户端损失 {he_lost_ms} 毫秒，双栈用户实际使用 IPv4。",
                  "请排查 IPv6 连接缓慢或某个 IPv6 地址无应答的原因（托管网络的路由、互联、防火墙）；web.reach 和"
                  " web.latency 的结果会指出是哪个地址。"),
    },
    "starttls_v6_missing": {
        "en": ("Mail server {host} offers no STARTTLS over IPv6 at {address} ({status}) while its IPv4 address"
               " does: mail over IPv6 travels unencrypted.",
               "Enable STARTTLS on the SMTP server's IPv6 address as on IPv4 (the IPv6 listener, proxy or"
               " load balancer lacks the TLS configuration)."),
        "zh-CN": ("邮件服务器 {host} 在 IPv6 地址 {address} 上不提供 STARTTLS（{status}），而其 IPv4 地址提供：经 IPv6"
                  " 传输的邮件未加密。",
                  "请在 SMTP 服务的 IPv6 地址上像 IPv4 一样启用 STARTTLS（IPv6 监听、代理或负载均衡缺少 TLS 配置）。"),
    },
    "starttls_v6_invalid": {
        "en": ("Mail server {host} presents an invalid certificate over IPv6 at {address} ({problem}) while its"
               " IPv4 address presents a valid one.",
               "Serve the same valid certificate for the MX host name on every IPv6 address as on IPv4."),
        "zh-CN": ("邮件服务器 {host} 在 IPv6 地址 {address} 上提供的证书无效（{problem}），而其 IPv4 地址的证书有效。",
                  "请在每个 IPv6 地址上为 MX 主机名提供与 IPv4 相同的有效证书。"),
    },
    "starttls_cert_differs": {
        "en": ("Mail server {host} serves a different STARTTLS certificate over IPv6 ({v6}) than over IPv4 ({v4}).",
               "Serve the same certificate on both address families."),
        "zh-CN": ("邮件服务器 {host} 通过 IPv6 提供的 STARTTLS 证书（{v6}）与 IPv4（{v4}）不同。",
                  "请在两种地址族上使用相同的证书。"),
    },
    "starttls_absent": {
        "en": ("The mail servers ({hosts}) offer STARTTLS over neither IPv6 nor IPv4; no IPv6 standard requires it.",
               "Optional: enable STARTTLS with a valid certificate for the MX host name on every address, IPv6"
               " and IPv4."),
        "zh-CN": ("邮件服务器（{hosts}）在 IPv6 和 IPv4 上均不提供 STARTTLS；IPv6 相关标准并不要求。",
                  "可选：在所有 IPv6 和 IPv4 地址上启用 STARTTLS，并使用 MX 主机名的有效证书。"),
    },
    "addresses_pinned": {
        "en": ("The addresses of {name} were given with --address ({addresses}) and used instead of its A/AAAA"
               " records: the records themselves were not checked.",
               "Publish these addresses as the A/AAAA records of {name} before the launch, then check again"
               " without --address."),
        "zh-CN": ("{name} 的地址由 --address 指定（{addresses}），代替其 A/AAAA 记录使用：DNS 记录本身未被检测。",
                  "上线前请将这些地址发布为 {name} 的 A/AAAA 记录，然后去掉 --address 再检测一次。"),
    },
    "hsts_v6_missing": {
        "en": ("IPv6 users lose the HSTS protection IPv4 users get (max-age {max_age} over IPv4): {addresses}.",
               "Send the same Strict-Transport-Security header from every IPv6 address as from IPv4 (the IPv6"
               " virtual host, proxy or load balancer lacks it)."),
        "zh-CN": ("IPv6 用户得不到 IPv4 用户享有的 HSTS 保护（IPv4 的 max-age 为 {max_age}）：{addresses}。",
                  "请在每个 IPv6 地址上发送与 IPv4 相同的 Strict-Transport-Security 响应头（IPv6 虚拟主机、代理或负载均衡缺少该配置）。"),
    },
    "hsts_absent": {
        "en": ("{name} sends no HSTS (Strict-Transport-Security) over IPv6 nor over IPv4; no IPv6 standard"
               " requires it.",
               "Optional: send Strict-Transport-Security with a long max-age from every address, IPv6 and IPv4."),
        "zh-CN": ("{name} 在 IPv6 和 IPv4 上均未发送 HSTS（Strict-Transport-Security）；IPv6 相关标准并不要求。",
                  "可选：在所有 IPv6 和 IPv4 地址上发送 max-age 较长的 Strict-Transport-Security 响应头。"),
    },
    "links_low": {
        "en": ("Only {ok} of {total} level-{level} links work over IPv6 ({rate}, at least {min} required); "
               "IPv4-only: {urls}.", "Serve the linked pages from hosts with IPv6 (AAAA records and servers)."),
        "zh-CN": ("第 {level} 级链接中只有 {ok}/{total} 可通过 IPv6 访问（{rate}，要求至少 {min}）；仅 IPv4：{urls}。",
                  "请让被链接页面所在主机支持 IPv6（AAAA 记录与服务）。"),
    },
    "links_v4_literal": {
        "en": ("{count} link(s) point at an IPv4 address literal, which no IPv6-only client can reach: {urls}.",
               "Link by host name (a name with AAAA records), never by IPv4 address."),
        "zh-CN": ("有 {count} 个链接指向 IPv4 地址字面量，纯 IPv6 客户端无法访问：{urls}。",
                  "请使用主机名（具有 AAAA 记录）进行链接，而不要直接使用 IPv4 地址。"),
    },
    "resources_v4_only": {
        "en": ("The homepage loads resources from hosts without IPv6: {hosts}.",
               "Serve scripts, styles, images and fonts from IPv6-capable hosts (or the site itself)."),
        "zh-CN": ("首页从不支持 IPv6 的主机加载资源：{hosts}。", "请从支持 IPv6 的主机（或网站自身）提供脚本、样式、图片和字体。"),
    },
    "pmtu_blackhole": {
        "en": ("PMTU blackhole on IPv6 address {address}: full-size packets stall ({phase}, {bytes} bytes "
               "received) while 1280-byte packets get through.",
               "Let ICMPv6 Packet Too Big reach the server (firewalls, load balancers), or clamp the TCP MSS "
               "to 1220 on IPv6."),
        "zh-CN": ("IPv6 地址 {address} 存在 PMTU 黑洞：满长度报文停滞（{phase}，已收 {bytes} 字节），而 1280 字节报文可通过。",
                  "请放行到达服务器的 ICMPv6 Packet Too Big（防火墙、负载均衡），或在 IPv6 上将 TCP MSS 限制为 1220。"),
    },
    "icmp_silent": {
        "en": ("IPv6 address {address} does not answer ICMPv6 echo; the last hop that answered is {last_hop}.",
               "Allow ICMPv6 echo (RFC 4890) so IPv6 problems can be diagnosed."),
        "zh-CN": ("IPv6 地址 {address} 不响应 ICMPv6 回显；最后一个应答的路由节点是 {last_hop}。",
                  "请按 RFC 4890 放行 ICMPv6 回显，便于诊断 IPv6 问题。"),
    },
    "mtu_blackhole": {
        "en": ("PMTU blackhole towards IPv6 address {address}: {largest}-byte packets get answers, {size}-byte ones "
               "vanish (last Packet Too Big: from {router}, MTU {mtu}).",
               "Let ICMPv6 Packet Too Big through every firewall on the path, to and from the server (RFC 4890), "
               "or make the narrow hop send it."),
        "zh-CN": ("通往 IPv6 地址 {address} 的路径存在 PMTU 黑洞：{largest} 字节的报文有应答，{size} 字节的报文丢失"
                  "（最后一个 Packet Too Big：来自 {router}，MTU {mtu}）。",
                  "请在路径上的所有防火墙放行往返服务器的 ICMPv6 Packet Too Big（RFC 4890），或让较窄的一跳发送该消息。"),
    },
    "mtu_1280": {
        "en": ("The path to IPv6 address {address} carries only 1280-byte packets, the IPv6 minimum (Packet Too Big "
               "from {router}).",
               "Nothing is broken; if the narrow hop is yours (a tunnel), give it a larger MTU."),
        "zh-CN": ("通往 IPv6 地址 {address} 的路径仅能承载 1280 字节（IPv6 最小 MTU）的报文（Packet Too Big 来自 {router}）。",
                  "这并非故障；若该较窄的一跳（如隧道）归您管理，可为其设置更大的 MTU。"),
    },
    "mtu_ptb": {
        "en": ("The path to IPv6 address {address} has a hop of MTU {mtu}; its Packet Too Big (from {router}) "
               "arrives and is honoured.",
               "Nothing to fix: Packet Too Big works on this path."),
        "zh-CN": ("通往 IPv6 地址 {address} 的路径上有一跳 MTU 为 {mtu}；其 Packet Too Big（来自 {router}）能够到达并被遵循。",
                  "无需修复：该路径上的 Packet Too Big 工作正常。"),
    },
    "frag_dropped": {
        "en": ("IPv6 {role} address {address} does not answer fragmented packets (an ICMPv6 echo in two fragments; "
               "the same echo whole is answered).",
               "Let IPv6 fragments through the firewalls in front of the server (RFC 8900 explains the costs of "
               "dropping them)."),
        "zh-CN": ("IPv6 {role} 地址 {address} 不响应分片报文（分为两片的 ICMPv6 回显；不分片的同一回显有应答）。",
                  "请让服务器前方的防火墙放行 IPv6 分片（RFC 8900 说明了丢弃分片的代价）。"),
    },
    "dstopt_dropped": {
        "en": ("IPv6 {role} address {address} does not answer packets with a destination-options header "
               "(the same echo without it is answered).",
               "Let IPv6 packets with destination options through (RFC 9098, RFC 7872), at least with padding options."),
        "zh-CN": ("IPv6 {role} 地址 {address} 不响应带目的选项扩展头的报文（不带该扩展头的同一回显有应答）。",
                  "请放行带目的选项扩展头的 IPv6 报文（RFC 9098、RFC 7872），至少放行仅含填充选项的报文。"),
    },
    "dns_frag_dropped": {
        "en": ("Name server {ns} at {address} sends no answer over UDP to a query with a 4096-byte EDNS buffer "
               "(the answer needs fragments) while a 1232-byte buffer gets one ({size} bytes, truncated).",
               "Set the name server's EDNS buffer size to 1232 (DNS flag day 2020) so answers are never "
               "fragmented, and let IPv6 fragments through."),
        "zh-CN": ("名称服务器 {ns}（{address}）对 EDNS 缓冲区为 4096 字节的 UDP 查询（应答需要分片）没有应答，"
                  "而 1232 字节缓冲区的查询有应答（{size} 字节，已截断）。",
                  "请将名称服务器的 EDNS 缓冲区大小设为 1232（2020 DNS Flag Day），使应答永不分片，并放行 IPv6 分片。"),
    },
    "mx_v6_no_greeting": {
        "en": ("Mail server {host} does not greet over IPv6 at {address} ({status}).",
               "Make the SMTP server listen on its IPv6 address and open port 25."),
        "zh-CN": ("邮件服务器 {host} 在 IPv6 地址 {address} 上没有 SMTP 问候（{status}）。",
                  "请让 SMTP 服务监听其 IPv6 地址并开放 25 端口。"),
    },
    "mx_no_v6": {
        "en": ("Mail servers without usable IPv6: {hosts}.", "Give every MX host an AAAA record and IPv6 SMTP."),
        "zh-CN": ("以下邮件服务器没有可用的 IPv6：{hosts}。", "请为每个 MX 主机配置 AAAA 记录和 IPv6 SMTP 服务。"),
    },
    "mx_null": {
        "en": ("The domain accepts no mail (null MX).", ""),
        "zh-CN": ("该域名不接收邮件（空 MX）。", ""),
    },
    "check_error": {
        "en": ("The check could not be completed: {error}.", "Run the scan again; report a bug if it persists."),
        "zh-CN": ("该检查未能完成：{error}。", "请重新扫描；如持续出现，请报告问题。"),
    },
    "not_tested": {
        "en": ("Not tested: {why}.", ""),
        "zh-CN": ("未测试：{why}。", ""),
    },
    "required_not_measured": {
        "en": ("{check} is required by the {policy} policy but was not measured.",
               "Run the scan with {check} enabled, or use a policy that does not require it."),
        "zh-CN": ("{policy} 评测规则要求 {check}，但该项未被测量。", "请启用 {check} 后重新扫描，或改用不要求该项的评测规则。"),
    },
    "www_missing": {
        "en": ("{name} does not exist; only the domain itself was assessed.", ""),
        "zh-CN": ("{name} 不存在，仅评估了域名本身。", ""),
    },
    "dnssec_scanner_side": {
        "en": ("DNSSEC of {name} could not be validated from this scanner ({error}): no root server answered over"
               " IPv6, or the root zone does not match the scanner's trust anchors. This is the scanner's problem,"
               " not the site's.",
               "Run from a network that reaches the root servers over IPv6 (or give reachable ones with"
               " --root-hints FILE), and check --trust-anchor FILE: it must hold the DS or DNSKEY records of the"
               " root those hints lead to."),
        "zh-CN": ("无法从本扫描器验证 {name} 的 DNSSEC（{error}）：没有根服务器通过 IPv6 应答，或根区与扫描器的信任锚不符。"
                  "这是扫描器一方的问题，不是网站的问题。",
                  "请在能通过 IPv6 访问根服务器的网络中运行（或用 --root-hints FILE 指定可达的根服务器），并检查"
                  " --trust-anchor FILE：其中应为这些根提示所指根区的 DS 或 DNSKEY 记录。"),
    },
    "dnssec_bogus": {
        "en": ("DNSSEC of {name} is broken (bogus) at {at}: {problem}. Validating resolvers answer SERVFAIL for"
               " every name of {zone}: their users, over IPv6 and IPv4 alike, cannot reach the site.",
               "Re-sign the zone {at} (signatures expired or not valid yet: fix the signer or its schedule), and"
               " make the DS records at its parent match a DNSKEY the zone publishes and signs with; during a"
               " key rollover publish the new DS only once the new key is in the zone."),
        "zh-CN": ("{name} 的 DNSSEC 在 {at} 处验证失败（bogus）：{problem}。启用验证的解析器对 {zone} 中的所有名称都返回"
                  " SERVFAIL：其用户无论通过 IPv6 还是 IPv4 都无法访问该网站。",
                  "请重新签名区域 {at}（签名已过期或尚未生效：修复签名程序或其计划任务），并使其上级区域中的 DS 记录"
                  "与该区域发布并用于签名的 DNSKEY 一致；密钥轮换时，待新密钥已在区域中发布后再提交新的 DS。"),
    },
    "dnssec_insecure": {
        "en": ("The zone {zone} of {name} is not signed with DNSSEC: the chain of trust ends at {at} (no DS"
               " record at its parent). Resolvers accept its answers unverified; no standard of IPv6"
               " readiness requires DNSSEC.",
               "Optional: sign the zone (DNSSEC) and publish its DS record at the parent zone (through the"
               " registrar), so resolvers can verify the answers."),
        "zh-CN": ("{name} 所在区域 {zone} 未使用 DNSSEC 签名：信任链止于 {at}（其上级区域没有 DS 记录）。"
                  "解析器不加验证地接受其应答；IPv6 支持度标准并不要求 DNSSEC。",
                  "可选：为该区域启用 DNSSEC 签名，并（通过注册商）在上级区域发布其 DS 记录，使解析器能够验证应答。"),
    },
    "dnssec_no_ds": {
        "en": ("The zone {zone} of {name} publishes DNSKEY records but its parent {parent} has no DS record for"
               " it: the signatures are never verified (the zone is treated as unsigned).",
               "Publish the DS record of the zone's key-signing key at {parent} (through the registrar), or remove"
               " the keys and signatures if DNSSEC is not wanted."),
        "zh-CN": ("{name} 所在区域 {zone} 发布了 DNSKEY 记录，但其上级区域 {parent} 没有对应的 DS 记录："
                  "签名从不被验证（该区域被视为未签名）。",
                  "请（通过注册商）在 {parent} 发布该区域密钥签名密钥（KSK）的 DS 记录；如不打算启用 DNSSEC，"
                  "请删除这些密钥和签名。"),
    },
    "dnssec_dnskey_udp_silent": {
        "en": ("The name servers of {zone} ({name}) never answer the DNSKEY query over IPv6 UDP; they answer only"
               " over TCP. Resolvers that ask over UDP first wait for timeouts before validating.",
               "Make the DNSKEY answer reach IPv6 clients over UDP: let the servers answer with TC=1 when it does"
               " not fit (an EDNS buffer of 1232 bytes), do not drop large or fragmented UDP answers on the IPv6"
               " path, or use smaller keys (ECDSA P-256 instead of RSA)."),
        "zh-CN": ("{zone}（{name}）的域名服务器从不通过 IPv6 UDP 应答 DNSKEY 查询，只通过 TCP 应答。"
                  "先用 UDP 查询的解析器要等到超时后才能完成验证。",
                  "请使 DNSKEY 应答能通过 UDP 到达 IPv6 客户端：应答放不下时让服务器返回 TC=1（EDNS 缓冲区 1232 字节），"
                  "不要在 IPv6 路径上丢弃大的或分片的 UDP 应答，或改用更短的密钥（用 ECDSA P-256 代替 RSA）。"),
    },
    "dnssec_dnskey_tcp": {
        "en": ("The DNSKEY answer of {zone} ({name}) is {size} bytes, more than a {limit}-byte IPv6 UDP answer"
               " holds: resolvers must retry over TCP (or receive fragments, often dropped on IPv6 paths).",
               "Shrink the DNSKEY RRset: ECDSA P-256 keys instead of RSA, fewer keys at once (finish key"
               " rollovers), and sign it with the key-signing key only."),
        "zh-CN": ("{zone}（{name}）的 DNSKEY 应答为 {size} 字节，超过 {limit} 字节的 IPv6 UDP 应答上限："
                  "解析器必须改用 TCP 重试（或接收在 IPv6 路径上常被丢弃的分片）。",
                  "请缩小 DNSKEY 记录集：用 ECDSA P-256 密钥代替 RSA，同时存在的密钥更少（及时完成密钥轮换），"
                  "并只用密钥签名密钥（KSK）对其签名。"),
    },
    "dnssec_servers_disagree": {
        "en": ("Not every name server of {zone} ({name}) gives answers that validate: {servers} answered with"
               " signatures or keys that do not ({problem}), while another server's answers validate. Validating"
               " resolvers that ask those servers answer SERVFAIL.",
               "Make every name server of the zone serve the current signed zone (check zone transfers to the"
               " secondaries, and that every server got the new keys and signatures after a re-signing or a key"
               " rollover)."),
        "zh-CN": ("{zone}（{name}）并非所有域名服务器的应答都能通过验证：{servers} 返回的签名或密钥无法验证（{problem}），"
                  "而其他服务器的应答可以通过验证。向这些服务器查询的验证型解析器会返回 SERVFAIL。",
                  "请使该区域的所有域名服务器都提供当前的已签名区域（检查向辅服务器的区域传送，并确认重新签名或"
                  "密钥轮换后每台服务器都已获得新的密钥和签名）。"),
    },
}

_UI: dict[str, dict[str, str]] = {
    "ready": {"en": "ready", "zh-CN": "就绪"},
    "partial": {"en": "partial", "zh-CN": "部分支持"},
    "broken": {"en": "broken", "zh-CN": "故障"},
    "absent": {"en": "absent", "zh-CN": "未支持"},
    "error": {"en": "error", "zh-CN": "错误"},
    "inconclusive": {"en": "inconclusive", "zh-CN": "无法判定"},
    "pass": {"en": "pass", "zh-CN": "通过"},
    "warn": {"en": "warning", "zh-CN": "警告"},
    "fail": {"en": "fail", "zh-CN": "失败"},
    "info": {"en": "info", "zh-CN": "信息"},
    "not_tested": {"en": "not tested", "zh-CN": "未测试"},
    "title": {"en": "IPv6 readiness report", "zh-CN": "IPv6 支持度评测报告"},
    "summary": {"en": "Summary", "zh-CN": "概览"},
    "sites": {"en": "Sites", "zh-CN": "网站"},
    "site": {"en": "Site", "zh-CN": "网站"},
    "sector": {"en": "Sector", "zh-CN": "行业"},
    "region": {"en": "Region", "zh-CN": "地区"},
    "verdict": {"en": "Verdict", "zh-CN": "结论"},
    "score": {"en": "Score", "zh-CN": "得分"},
    "average_score": {"en": "Average score", "zh-CN": "平均得分"},
    "by_sector": {"en": "Readiness by sector", "zh-CN": "按行业统计"},
    "by_region": {"en": "Readiness by region", "zh-CN": "按地区统计"},
    "verdicts": {"en": "Verdicts", "zh-CN": "结论分布"},
    "scores": {"en": "Score distribution", "zh-CN": "得分分布"},
    "common_failures": {"en": "Most common failures", "zh-CN": "最常见的问题"},
    "check": {"en": "Check", "zh-CN": "检查项"},
    "result": {"en": "Result", "zh-CN": "结果"},
    "reason": {"en": "Reason", "zh-CN": "原因"},
    "fix": {"en": "How to fix", "zh-CN": "修复建议"},
    "evidence": {"en": "Evidence", "zh-CN": "证据"},
    "count": {"en": "Count", "zh-CN": "数量"},
    "trend": {"en": "Trend across sweeps", "zh-CN": "历次扫描趋势"},
    "sweep": {"en": "Sweep", "zh-CN": "扫描批次"},
    "policy": {"en": "Policy", "zh-CN": "评测规则"},
    "generated": {"en": "Generated", "zh-CN": "生成时间"},
    "ready_share": {"en": "Ready", "zh-CN": "就绪比例"},
    "total": {"en": "Total", "zh-CN": "合计"},
    "none": {"en": "none", "zh-CN": "无"},
    "served_v6": {"en": "IPv6 served by", "zh-CN": "IPv6 服务商"},
    "served_v4": {"en": "IPv4 served by", "zh-CN": "IPv4 服务商"},
    "dns_operator": {"en": "DNS operator", "zh-CN": "DNS 服务商"},
    "self_hosted": {"en": "self-hosted or unknown", "zh-CN": "自建或未知"},
    "provider": {"en": "Provider", "zh-CN": "服务商"},
    "providers": {"en": "Who serves the sites", "zh-CN": "网站服务商"},
    "prefix_v6": {"en": "IPv6 /48", "zh-CN": "IPv6 /48 前缀"},
    "prefix_v4": {"en": "IPv4 /24", "zh-CN": "IPv4 /24 前缀"},
    "v6_failing": {"en": "Failing over IPv6", "zh-CN": "IPv6 不达标"},
    "via": {"en": "via", "zh-CN": "经由"},
}


class _Safe(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _same(value: str) -> str:
    return value


def _fmt(template: str, params: Mapping[str, object], lang: str = "en") -> str:
    """``template`` filled with ``params`` (a list or tuple joined with commas).  In Chinese, every
    string parameter, and each string of a list, is localised first (v6scan.messages_zh): the
    measured English (errors, why a check did not run, differences) reads in Chinese, while names
    and addresses stay as they are; the stored parameters are not changed."""
    loc = localise if lang == "zh-CN" else _same

    def value(v: object) -> object:
        if isinstance(v, str):
            return loc(v)
        if isinstance(v, list | tuple):
            return ", ".join(loc(x) if isinstance(x, str) else str(x) for x in v)
        return v

    return template.format_map(_Safe({k: value(v) for k, v in params.items()}))


def render(code: str, params: Mapping[str, object], lang: str = "en") -> str:
    entry = MESSAGES.get(code)
    if entry is None:
        return f"{code}: {dict(params)}"
    return _fmt(entry.get(lang, entry["en"])[0], params, lang)


def fix_hint(code: str, params: Mapping[str, object], lang: str = "en") -> str:
    entry = MESSAGES.get(code)
    if entry is None:
        return ""
    return _fmt(entry.get(lang, entry["en"])[1], params, lang)


def ui(key: str, lang: str = "en") -> str:
    entry = _UI.get(key)
    return entry.get(lang, entry["en"]) if entry else key


#: each check's title in Chinese (the English one is the check's ``title``)
_CHECK_TITLES_ZH = {
    "self.v6": "扫描器自身的 IPv6 可用",
    "dns.resolve": "域名可以解析",
    "dns.aaaa": "有全球单播地址的 AAAA 记录",
    "dns.ns_aaaa": "域名服务器有 IPv6 地址",
    "dns.ns_reach": "每个域名服务器地址都能通过 UDP 和 TCP 应答",
    "dns.v6_path": "仅用 IPv6 也能从根开始解析该域名",
    "dns.dnssec": "区域已签名并能经 IPv6 验证，DNSKEY 应答适合 IPv6 UDP",
    "web.reach": "每个地址都接受 80 和 443 端口的 TCP 连接",
    "web.tls": "每个 IPv6 地址上的证书都有效",
    "web.http": "网站能通过 IPv6 访问（含重定向）",
    "web.same_site": "IPv6 与 IPv4 访问到的是同一网站",
    "web.latency": "IPv6 与 IPv4 的访问速度和稳定性相当",
    "web.links": "网站的二级、三级页面能通过 IPv6 访问",
    "web.resources": "首页引用的资源来自支持 IPv6 的主机",
    "web.hsts_v6": "IPv6 上与 IPv4 上一样提供 HSTS",
    "web.svcb": "HTTPS 记录与 AAAA 记录一致",
    "web.happy_eyeballs": "双栈（RFC 8305）客户端不因 IPv6 损失时间",
    "path.pmtu": "IPv6 路径上没有 PMTU 黑洞",
    "path.mtu": "到每个 IPv6 地址的路径 MTU；Packet Too Big 报文未被过滤",
    "path.icmp": "IPv6 地址应答 ICMPv6 回显（否则指出路径在何处中断）",
    "path.frag": "IPv6 网站和域名服务器地址能应答分片和扩展头报文",
    "mail.mx_aaaa": "邮件服务器有 IPv6 地址",
    "mail.mx_reach": "每个邮件服务器都能通过 IPv6 应答（25 端口 SMTP）",
    "mail.starttls": "每个邮件服务器在 IPv6 上与 IPv4 上一样提供 STARTTLS",
}


def check_title(cid: str, title: str, lang: str = "en") -> str:
    """The title of check ``cid`` (``title``: its English one) in ``lang``."""
    return _CHECK_TITLES_ZH.get(cid, title) if lang == "zh-CN" else title


#: technical terms a Chinese text keeps in Latin letters (as Chinese technical writing does); the
#: words of a hyphenated or underscored term count one by one (max-age, CAP_NET_RAW, 6to4)
TERMS = frozenset({
    "ms", "s", "kB", "MB", "KB", "GB",  # units
    "IPv6", "IPv4", "DNS", "DNSSEC", "DNSKEY", "DS", "AAAA", "A", "CNAME", "NS", "MX", "SOA", "TXT", "HTTPS", "HTTP",
    "SVCB", "TLS", "SSL", "SNI", "ALPN", "HSTS", "TCP", "UDP", "ICMP", "ICMPv6", "MTU", "PMTU", "SMTP", "STARTTLS",
    "CDN", "URL", "RFC", "EDNS", "Packet", "Too", "Big", "ID", "IP", "SHA", "RST", "NAT64", "CA", "TTL", "JSON",
    "CSV", "XLSX", "v6scan", "Happy", "Eyeballs", "OCSP", "SAN", "CN", "ASCII", "UTF", "GB18030", "www", "nftables",
    # the web, its headers and HTTPS records (Strict-Transport-Security, max-age, ipv6hint, h2)
    "Web", "Strict", "Transport", "Security", "max", "age", "ipv6hint", "ipv4hint", "alpn", "h2", "h3", "KiB",
    "IDNA", "EOF", "MSS", "gzip", "deflate", "br",
    # DNS: RCODEs, header flags, records, DNSSEC (bogus: RFC 4033's state), the DNS Flag Day
    "NXDOMAIN", "SERVFAIL", "REFUSED", "NODATA", "NOERROR", "FORMERR", "NOTIMP", "NOTAUTH", "AA", "TC", "RRSIG",
    "KSK", "ECDSA", "RSA", "P", "bogus", "Flag", "Day", "EHLO",
    # special-purpose address blocks (IANA registry names) and Linux's raw-socket capability
    "IETF", "TEST", "NET", "AS112", "AMT", "to4", "Teredo", "TURN", "DNS64", "SD", "ORCHID", "ORCHIDv2", "SRv6",
    "SID", "CAP", "RAW",
})


def foreign_words(text: str) -> list[str]:
    """The words of Latin letters in ``text`` that are not technical :data:`TERMS` (a Chinese
    text's untranslated English)."""
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text) if w not in TERMS]
