"""The words of target lists as regulators have them: column headers, sectors and provinces.

A list from a ministry or a provincial office names its columns in Chinese (网站名称, 网址/域名,
主办单位, 地区/省份, 行业/类别) or in English, gives sectors as words (政府, 高校, 企业) and provinces
as 广东省, 广东, Guangdong or "Guangdong Province".  v6scan's own lists use the columns ``host,
sector, region, organisation``, the sectors ``gov``, ``edu``, ``com`` and provinces in pinyin
(``Guangdong``, ``national`` for the central government): this module maps the first onto the
second.  A value it does not know is kept as it is (trimmed), never dropped.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["PROVINCES", "ROLES", "group_label", "header_roles", "normalise_region", "normalise_sector"]

#: the column roles of a target list; ``name`` is the site's name (网站名称), which v6scan's lists do
#: not keep
ROLES = ("host", "name", "organisation", "region", "sector")

_HEADERS: dict[str, tuple[str, ...]] = {
    "host": ("host", "domain", "domain name", "url", "website", "site", "web address", "address", "homepage",
             "网址", "域名", "网址/域名", "域名/网址", "网站域名", "网站网址", "网站地址", "网站url", "首页地址",
             "首页网址", "网站首页", "网站首页地址", "url地址", "链接", "网站链接"),
    "name": ("site name", "website name", "title", "网站名称", "网站名", "名称", "站点名称", "网站标题"),
    "organisation": ("organisation", "organization", "owner", "agency", "sponsor", "institution", "主办单位",
                     "主办单位名称", "主办者", "单位", "单位名称", "主管单位", "开办单位", "所属单位", "机构",
                     "机构名称"),
    "region": ("region", "province", "province/region", "地区", "省份", "省", "地区/省份", "省份/地区", "所属地区",
               "所属省份", "区域", "地域", "所在地区", "所在省份", "省/市", "省市"),
    "sector": ("sector", "category", "industry", "type", "行业", "类别", "行业/类别", "类别/行业", "网站类别",
               "网站类型", "所属行业", "行业类别", "类型", "分类", "领域"),
}
_ROLE_OF = {alias: role for role, aliases in _HEADERS.items() for alias in aliases}
_NOTE = re.compile(r"[(\u3010\[].*?[)\u3011\]]")  # notes after NFKC: "网址(必填)", "URL (required)"


def _key(cell: str) -> str:
    s = unicodedata.normalize("NFKC", cell)  # full-width letters, slashes and brackets to plain ones
    s = _NOTE.sub("", s).replace("*", "").replace(":", "")
    return re.sub(r"\s+", " ", s).strip().lower()


def header_roles(cells: list[str]) -> list[str | None] | None:
    """The role of each cell of a header row, or None when the row is not a header (no cell names
    the host).  ``name`` alone is the host (v6scan's own lists say ``name`` for the host name); beside
    a host column it is the site's name.  A role is given to its first column only."""
    roles: list[str | None] = []
    for cell in cells:
        key = _key(cell)
        roles.append("name?" if key == "name" else _ROLE_OF.get(key))
    if "host" not in roles:
        if "name?" not in roles:
            return None
        roles = ["host" if r == "name?" else r for r in roles]
    roles = ["name" if r == "name?" else r for r in roles]
    seen: set[str] = set()
    out: list[str | None] = []
    for r in roles:
        out.append(r if r is not None and r not in seen else None)
        if r is not None:
            seen.add(r)
    return out


_SECTORS: dict[str, tuple[str, ...]] = {
    "gov": ("gov", "government", "public sector", "政府", "政务", "政府网站", "政府门户", "政府机关", "政府部门",
            "党政机关", "党政", "机关", "行政机关", "党政机关网站", "政府门户网站"),
    "edu": ("edu", "education", "university", "universities", "higher education", "教育", "高校", "学校", "大学",
            "高等院校", "高等学校", "教育机构", "教育科研", "教育网站", "高校网站"),
    "com": ("com", "commercial", "business", "company", "enterprise", "private sector", "商业", "企业", "商业网站",
            "企业网站", "公司", "互联网企业", "商业企业", "商业机构"),
}
_SECTOR_OF = {alias: sector for sector, aliases in _SECTORS.items() for alias in aliases}


def normalise_sector(value: str | None) -> str | None:
    """``gov``, ``edu`` or ``com`` for the words lists use for them; any other value trimmed."""
    if value is None:
        return None
    v = value.strip()
    return _SECTOR_OF.get(_key(v), v) or None


#: (pinyin as v6scan's lists write it, the full Chinese name, the short one, other spellings)
PROVINCES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("national", "全国", "中央", ("central", "central government", "nationwide", "china", "国家", "国务院",
                                  "中央政府")),
    ("Beijing", "北京市", "北京", ()),
    ("Tianjin", "天津市", "天津", ()),
    ("Hebei", "河北省", "河北", ()),
    ("Shanxi", "山西省", "山西", ()),
    ("Inner Mongolia", "内蒙古自治区", "内蒙古", ("nei mongol", "neimenggu")),
    ("Liaoning", "辽宁省", "辽宁", ()),
    ("Jilin", "吉林省", "吉林", ()),
    ("Heilongjiang", "黑龙江省", "黑龙江", ()),
    ("Shanghai", "上海市", "上海", ()),
    ("Jiangsu", "江苏省", "江苏", ()),
    ("Zhejiang", "浙江省", "浙江", ()),
    ("Anhui", "安徽省", "安徽", ()),
    ("Fujian", "福建省", "福建", ()),
    ("Jiangxi", "江西省", "江西", ()),
    ("Shandong", "山东省", "山东", ()),
    ("Henan", "河南省", "河南", ()),
    ("Hubei", "湖北省", "湖北", ()),
    ("Hunan", "湖南省", "湖南", ()),
    ("Guangdong", "广东省", "广东", ()),
    ("Guangxi", "广西壮族自治区", "广西", ("guangxi zhuang",)),
    ("Hainan", "海南省", "海南", ()),
    ("Chongqing", "重庆市", "重庆", ()),
    ("Sichuan", "四川省", "四川", ()),
    ("Guizhou", "贵州省", "贵州", ()),
    ("Yunnan", "云南省", "云南", ()),
    ("Tibet", "西藏自治区", "西藏", ("xizang",)),
    ("Shaanxi", "陕西省", "陕西", ()),
    ("Gansu", "甘肃省", "甘肃", ()),
    ("Qinghai", "青海省", "青海", ()),
    ("Ningxia", "宁夏回族自治区", "宁夏", ("ningxia hui",)),
    ("Xinjiang", "新疆维吾尔自治区", "新疆", ("xinjiang uygur", "xinjiang uyghur")),
    ("Hong Kong", "香港特别行政区", "香港", ("hongkong", "hong kong sar")),
    ("Macao", "澳门特别行政区", "澳门", ("macau", "macao sar", "macau sar")),
    ("Taiwan", "台湾省", "台湾", ()),
    ("Xinjiang Production and Construction Corps", "新疆生产建设兵团", "兵团", ("xpcc",)),
)
_EN_SUFFIX = re.compile(r"\s+(province|municipality|autonomous region|special administrative region|sar|city)$")


@lru_cache(maxsize=1)
def _region_table() -> tuple[dict[str, str], list[tuple[str, str]]]:
    exact: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    for pinyin, full, short, others in PROVINCES:
        for form in (pinyin, full, short, *others):
            exact[_key(form)] = pinyin
        prefixes += [(full, pinyin), (short, pinyin)]
    prefixes.sort(key=lambda p: -len(p[0]))  # 新疆生产建设兵团 before 新疆
    return exact, prefixes


def normalise_region(value: str | None) -> str | None:
    """A province as v6scan's lists write it (pinyin: ``Guangdong``; ``national`` for the central
    government) from 广东省, 广东, 广东省广州市, ``Guangdong Province`` or ``guangdong``; any other
    value trimmed."""
    if value is None:
        return None
    v = value.strip()
    exact, prefixes = _region_table()
    key = _key(v)
    if key in exact:
        return exact[key]
    if (bare := _EN_SUFFIX.sub("", key)) in exact:
        return exact[bare]
    for prefix, pinyin in prefixes:  # 广东省广州市: the province
        if v.startswith(prefix) and len(prefix) >= 2:
            return pinyin
    return v or None


#: the sectors' names in Chinese
_SECTOR_ZH = {"gov": "\u653f\u5e9c", "edu": "\u6559\u80b2", "com": "\u5546\u4e1a"}


@lru_cache(maxsize=1)
def _province_zh() -> dict[str, str]:
    return {_key(pinyin): full for pinyin, full, _, _ in PROVINCES}


def group_label(dim: str, value: str | None, lang: str) -> str | None:
    """How a report in ``lang`` shows a sector or region value: in Chinese, ``gov`` is 政府 and a
    province in pinyin (or English) its Chinese name; anything else as it is."""
    if value is None or lang != "zh-CN":
        return value
    if dim == "sector":
        return _SECTOR_ZH.get(value, value)
    if dim == "region":
        pinyin = normalise_region(value)
        return _province_zh().get(_key(pinyin), value) if pinyin else value
    return value
