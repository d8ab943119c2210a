"""Demo data for a first look (``flask seed-demo``, ``flask init-db --demo-if-new``): the five
demo accounts, the products and stock of SPEC.md, and two years of customers, orders, churn,
opportunities and services. Deterministic (seeded, dated back from ``today``) and idempotent.
"""
import datetime
import random
from decimal import Decimal

from flask import current_app
from flask_security import hash_password
from peewee import chunked

from models import (
    Activity,
    ChurnRecord,
    Contact,
    Customer,
    Opportunity,
    Order,
    OrderLine,
    PlanItem,
    Product,
    Role,
    ServiceRequest,
    StatusChange,
    Stock,
    User,
    db,
)
from models.base import local, local_today, stored

PASSWORD = "crm-demo-pass"  # passes the password policy (app.py: PasswordPolicy)
SEED = 20071202

# username → (full name, role code); the same accounts as the README and tests/conftest.py.
USERS = {
    "admin": ("系统管理员", "admin"),
    "supervisor": ("王主管", "supervisor"),
    "xiaoming": ("小明", "manager"),
    "wangcai": ("旺财", "manager"),
    "executive": ("李总", "executive"),
}
MANAGERS = ("xiaoming", "wangcai")

# (name, model, batch, unit, price, note, [(warehouse, 货位, 件数, note)])
PRODUCTS = [
    ("幸福牌电视机", "818 FFT", "2388 EA03", "台", "7500", "42英寸液晶，全高清，含底座", [
        ("北京-西直门库", "A-01-03", 120, None),
        ("北京-马甸库", "B-02-01", 45, "其中2台为展示样机"),
        ("天津-恒远电子C库", "C-05-02", 200, None)]),
    ("幸福牌收音机", "天语007", "7878 006A", "台", "36", "便携式，调频/中波/短波", [
        ("北京-西直门库", "A-03-07", 600, None),
        ("北京-大钟寺库", "D-01-04", 1500, None),
        ("天津-恒远电子C库", "C-02-06", 800, "整箱存放，每箱50台")]),
    ("海龙笔记本电脑", "i60", "2688 9966", "台", "9800", "14英寸，酷睿i5，8GB内存，512GB固态硬盘", [
        ("北京-大钟寺库", "D-03-02", 80, None),
        ("北京-马甸库", "B-04-03", 60, None),
        ("天津-恒远电子C库", "C-07-01", 150, None)]),
    ("海龙笔记本电脑", "i61", "2689 6688", "台", "16800", "15.6英寸，酷睿i7，16GB内存，独立显卡", [
        ("北京-西直门库", "A-05-01", 35, None),
        ("北京-大钟寺库", "D-03-05", 50, None),
        ("北京-马甸库", "B-04-04", 20, "新到货，待质检")]),
]

# (地区, city, city code for web sites, districts, zip prefix, area code, administrative code)
CITIES = [
    ("北京", "北京", "bj", ["海淀区中关村大街", "朝阳区建国路", "西城区西直门外大街",
                          "东城区东直门南大街", "丰台区南三环西路"], "100", "010", "110108"),
    ("华北", "天津", "tj", ["河西区友谊路", "南开区卫津路"], "300", "022", "120103"),
    ("华北", "石家庄", "sjz", ["长安区中山东路", "桥西区自强路"], "050", "0311", "130104"),
    ("华北", "太原", "ty", ["小店区长风街", "迎泽区迎泽大街"], "030", "0351", "140105"),
    ("华北", "呼和浩特", "hhht", ["新城区新华大街"], "010", "0471", "150102"),
    ("中南", "武汉", "wh", ["武昌区中南路", "江汉区解放大道"], "430", "027", "420106"),
    ("中南", "长沙", "cs", ["芙蓉区五一大道", "岳麓区麓山南路"], "410", "0731", "430102"),
    ("中南", "郑州", "zz", ["金水区花园路", "二七区大学路"], "450", "0371", "410105"),
    ("中南", "广州", "gz", ["天河区天河路", "越秀区环市东路"], "510", "020", "440106"),
    ("中南", "深圳", "sz", ["南山区科技园南路", "福田区深南大道"], "518", "0755", "440305"),
    ("东北", "沈阳", "sy", ["和平区南京北街", "沈河区青年大街"], "110", "024", "210102"),
    ("东北", "大连", "dl", ["中山区人民路", "沙河口区西安路"], "116", "0411", "210202"),
    ("东北", "长春", "cc", ["朝阳区人民大街"], "130", "0431", "220104"),
    ("东北", "哈尔滨", "hrb", ["南岗区红军街", "道里区中央大街"], "150", "0451", "230103"),
    ("西部", "成都", "cd", ["武侯区人民南路", "锦江区春熙路"], "610", "028", "510107"),
    ("西部", "重庆", "cq", ["渝中区民族路", "江北区建新北路"], "400", "023", "500103"),
    ("西部", "西安", "xa", ["雁塔区高新路", "碑林区南大街"], "710", "029", "610113"),
    ("西部", "昆明", "km", ["五华区东风西路"], "650", "0871", "530102"),
    ("西部", "兰州", "lz", ["城关区东岗西路"], "730", "0931", "620102"),
]
REGION_COUNTS = {"北京": 14, "华北": 10, "中南": 11, "东北": 7, "西部": 8}  # 50 customers

BRANDS = [
    ("恒通", "hengtong"), ("鑫源", "xinyuan"), ("华鼎", "huading"), ("博远", "boyuan"),
    ("金桥", "jinqiao"), ("瑞丰", "ruifeng"), ("宏达", "hongda"), ("联创", "lianchuang"),
    ("启明", "qiming"), ("天诚", "tiancheng"), ("永信", "yongxin"), ("远航", "yuanhang"),
    ("嘉禾", "jiahe"), ("润泽", "runze"), ("新锐", "xinrui"), ("盛世", "shengshi"),
    ("海川", "haichuan"), ("万通", "wantong"), ("宝德", "baode"), ("晨光", "chenguang"),
    ("正阳", "zhengyang"), ("三元", "sanyuan"), ("九州", "jiuzhou"), ("银河", "yinhe"),
    ("金鹏", "jinpeng"), ("华信", "huaxin"), ("泰和", "taihe"), ("德润", "derun"),
    ("明辉", "minghui"), ("同创", "tongchuang"), ("安达", "anda"), ("百川", "baichuan"),
    ("凯旋", "kaixuan"), ("昌盛", "changsheng"), ("富源", "fuyuan"), ("广聚", "guangju"),
    ("天宇", "tianyu"), ("星辰", "xingchen"), ("蓝海", "lanhai"), ("智远", "zhiyuan"),
    ("合力", "heli"), ("信达", "xinda"), ("中联", "zhonglian"), ("锦程", "jincheng"),
    ("祥瑞", "xiangrui"), ("立信", "lixin"), ("思源", "siyuan"), ("易通", "yitong"),
    ("东升", "dongsheng"), ("伟业", "weiye"), ("海达", "haida"), ("华夏", "huaxia"),
]
TRADES = ["电子有限公司", "电器有限公司", "科技有限公司", "数码科技有限公司", "商贸有限公司",
          "家电连锁有限公司", "信息技术有限公司", "办公设备有限公司", "教育科技有限公司",
          "酒店管理有限公司", "电子股份有限公司", "贸易有限责任公司"]
BANKS = ["中国工商银行", "中国建设银行", "中国银行", "中国农业银行", "交通银行", "招商银行",
         "中信银行", "华夏银行"]

SURNAMES = ("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕"
            "苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
            "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
GIVEN_MALE = ["伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏",
              "建国", "志强", "海涛", "国栋", "立新", "振华", "永刚", "文博", "浩然", "德明"]
GIVEN_FEMALE = ["芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "雪", "琳", "慧", "颖",
                "玉兰", "秀英", "晓燕", "丽华", "雅琴", "欣怡", "春梅"]
TITLES = ["总经理", "副总经理", "采购经理", "采购主管", "财务经理", "行政主管", "技术总监",
          "办公室主任", "信息部经理", "销售总监"]
CONTACT_NOTES = [None, None, "决策人", "周末不方便联系", "习惯微信沟通", "负责付款审批",
                 "对价格敏感", None]

# 交往记录: (概要, 详细信息)
ACTIVITIES = [
    ("新品推介", "向客户介绍海龙i61笔记本电脑新批次的配置和价格，客户索取了产品资料。"),
    ("年度采购洽谈", "讨论下一年度采购计划，客户预计采购量与今年持平，希望价格再优惠。"),
    ("回款沟通", "就上月未回款订单与客户财务沟通，对方承诺月底前付清。"),
    ("售后回访", "回访上批幸福牌电视机的使用情况，客户反映画质好、故障少。"),
    ("节日拜访", "节前拜访客户总经理，赠送公司礼品，关系融洽。"),
    ("技术交流", "安排技术人员为客户讲解笔记本电脑的批量部署和维护。"),
    ("合同续签", "沟通供货合同续签条款，客户希望把账期延长到60天。"),
    ("投诉处理回访", "回访前期投诉的处理结果，客户表示满意。"),
]
PLACES = ["客户公司会议室", "我公司展厅", "电话沟通", "客户门店", "视频会议", "客户仓库",
          "北京国际展览中心"]
ACTIVITY_NOTES = [None, None, None, "需跟进", "已向主管汇报", "下次拜访带样机"]

# 销售机会 of prospects: (客户名称, 机会来源, 概要, 机会描述)
PROSPECTS = [
    ("北京明德实验中学", "招标信息", "多媒体教室改造，采购电视机60台",
     "学校暑期改造32间多媒体教室，需要大屏电视机约60台，要求8月上旬前到货并安装调试。"),
    ("天津滨海假日酒店有限公司", "老客户介绍", "客房电视机更新换代",
     "酒店共180间客房，计划分两期更换客房电视机，第一期90台，关注价格和上门安装服务。"),
    ("武汉光谷软件园管理有限公司", "展会", "园区入驻企业办公笔记本集中采购",
     "园区为入驻企业统一采购办公笔记本电脑，预计i60型号100台左右，希望提供三年保修。"),
    ("沈阳市老年大学", "电话咨询", "学员收音机团购",
     "学校为学员团购便携收音机约500台，用于广播课程，预算有限，对价格敏感。"),
    ("成都天府会展服务有限公司", "网站留言", "展会租赁设备采购",
     "公司为展会现场租赁业务采购电视机和笔记本电脑，希望按季度分批供货。"),
    ("郑州中原物流股份有限公司", "上门拜访", "调度中心笔记本电脑采购",
     "新建调度中心需要高配置笔记本电脑40台（i61），并询问以旧换新政策。"),
    ("广州南粤国际旅行社有限公司", "广告", "门店展示电视采购",
     "全省28家门店统一更换展示用电视机，每店1～2台，要求统一配送。"),
    ("西安秦岭电子科技有限公司", "老客户介绍", "研发部笔记本电脑更新",
     "研发部30名工程师的笔记本电脑到期更新，倾向i61，要求预装正版操作系统。"),
    ("大连海韵度假酒店有限公司", "展会", "度假村客房电视机采购",
     "新开业度假村120间客房需配置电视机，开业时间定于明年五月。"),
    ("重庆山城职业技术学院", "招标信息", "计算机实训室笔记本采购",
     "实训室建设项目，需要笔记本电脑200台，须参加公开招标。"),
    ("哈尔滨冰城传媒有限公司", "电话咨询", "演播室监看电视采购",
     "演播室改造，需要监看电视机12台，对画质要求较高。"),
    ("石家庄冀中医药物资有限公司", "网站留言", "销售团队笔记本电脑采购",
     "公司销售团队扩编，需要笔记本电脑25台，希望分三个月付款。"),
]
# 销售机会 that became customers: (机会来源, 概要, 机会描述)
DEVELOPED = [
    ("展会", "门店经销合作，首批进货电视机和收音机",
     "客户经营家电零售门店，希望成为幸福牌产品的区域经销商，首批进货电视机30台、收音机200台。"),
    ("老客户介绍", "新设分公司办公笔记本电脑采购",
     "客户新设分公司，需要海龙笔记本电脑50台，要求一个月内交货。"),
    ("电话咨询", "培训中心电视机及笔记本电脑采购",
     "客户新建培训中心，需要电视机20台和笔记本电脑30台，预算已获批准。"),
]
# 计划项 and its 执行效果, in the order a development goes
PLAN_STEPS = [
    ("电话联系客户，了解具体需求和预算", "客户需求明确，约定上门拜访时间"),
    ("上门拜访，介绍产品并演示样机", "客户对产品质量认可，要求提供书面报价"),
    ("提交正式报价单及供货方案", "客户正在内部比价，预计两周内答复"),
    ("邀请客户技术负责人到公司展厅参观", "客户技术负责人参观后表示满意"),
    ("商务谈判，确定价格、付款方式和交货期", "价格基本谈妥，客户同意预付30%"),
    ("签订合同，安排首批发货", "合同已签订，首批货物已发出"),
]
FAILURES = ["客户最终选择了价格更低的竞争品牌", "客户项目预算被削减，采购计划取消",
            "客户招标结果公布，我方未中标"]

# 服务: type → [(概要, 服务请求, 服务处理, 处理结果)]
SERVICES = {
    "咨询": [
        ("海龙i61笔记本电脑保修政策咨询",
         "客户询问海龙i61笔记本电脑的保修期限，以及电池是否在保修范围内。",
         "已电话答复：整机保修三年，电池保修一年，凭发票在全国联保网点维修。", "客户表示清楚了"),
        ("电视机壁挂安装咨询", "客户询问幸福牌电视机是否提供壁挂支架和上门安装服务。",
         "已答复：购买时可选配壁挂支架，北京、天津地区免费上门安装。", "客户满意，已预约安装"),
        ("批量采购价格咨询", "客户计划采购笔记本电脑50台以上，询问批量折扣。",
         "已发送阶梯报价单：50台以上九五折，100台以上九折。", "客户收到报价，表示会尽快下单"),
        ("收音机电池型号咨询", "客户询问天语007收音机使用的电池型号及续航时间。",
         "已答复：使用两节5号电池，连续收听约40小时。", "问题已解决"),
        ("增值税专用发票开具咨询", "客户财务询问订单能否开具增值税专用发票。",
         "已确认可以开具，并请客户提供开票资料。", "客户已提交开票资料，发票已寄出"),
    ],
    "建议": [
        ("建议送货前电话预约时间", "客户建议送货前提前一天电话预约，避免仓库无人收货。",
         "已转物流部门，今后送货前一天由司机电话预约。", "客户认可改进措施"),
        ("建议开展笔记本电脑以旧换新", "客户建议对老客户开展笔记本电脑以旧换新活动。",
         "已反馈市场部，下季度推出以旧换新方案。", "客户表示期待"),
        ("建议产品说明书增加英文版", "客户有外籍员工，建议随机附英文说明书。",
         "已联系厂家，提供英文版电子说明书下载地址。", "客户满意"),
        ("建议开通网上订单查询", "客户建议提供网上查询订单和物流状态的功能。",
         "已记录需求，目前可通过客户经理查询，网上查询功能在规划中。", "客户表示理解"),
    ],
    "投诉": [
        ("电视机送货延迟", "订单约定三天内送达，实际延迟了五天，影响客户酒店开业布置。",
         "已与物流部门核实原因并向客户致歉，后续订单优先安排发货。", "客户接受道歉"),
        ("笔记本电脑开箱屏幕有坏点", "客户收到的海龙i60笔记本电脑中有2台屏幕存在坏点。",
         "已安排上门更换2台新机，坏机返厂检测。", "已更换，客户满意"),
        ("收音机外包装破损", "到货的天语007收音机有一箱外包装破损，部分机器外壳划伤。",
         "已补发同等数量新机，破损机器收回。", "补发到货，问题解决"),
        ("售后维修响应慢", "客户报修电视机无信号，三天内无人上门。",
         "已协调维修站次日上门，确认为信号线故障并更换。", "维修完成，客户认可"),
        ("发票开具错误", "客户收到的发票抬头有误，无法入账。",
         "已作废原发票并重新开具，快递寄送给客户财务。", "客户已收到正确发票"),
    ],
}
SERVICE_WEIGHTS = {"咨询": 45, "建议": 25, "投诉": 30}
RECHECK = "再次处理：客户对处理结果不满意，经主管批准为客户全部更换新品。"
UNSATISFIED = "客户反映问题依旧，要求更换新品"
MEASURES = ["电话回访，了解到客户近期资金紧张，约定下月再联系",
            "上门拜访客户总经理，赠送新品资料并给予九五折优惠",
            "邀请客户参加新品发布会，客户表示会考虑恢复采购"]


def load(today=None):
    """Load the demo users, products and business data; parts that already exist are kept.

    Business data (customers and everything hanging off them, opportunities, services) is
    loaded only into a database without customers. Returns what was loaded.
    """
    today = today or local_today()  # the company's day (TIMEZONE)
    with db.atomic():
        users, new_users = load_users(today)
        products, new_products = load_products()
        business = not Customer.select().exists()
        if business:
            _Business(random.Random(SEED), today, users, products).load()
    return {"users": new_users, "products": new_products, "business": business}


def load_users(today):
    """The demo accounts, password ``crm-demo-pass``; an existing account is left as it is.

    The password is hashed once and the hash shared: argon2 is slow on purpose, and the
    demo password is public anyway.
    """
    datastore = current_app.extensions["user_datastore"]
    users, created, hashed = {}, 0, None
    for username, (full_name, role_code) in USERS.items():
        user = User.get_or_none(User.username == username)
        if user is None:
            hashed = hashed or hash_password(PASSWORD)
            user = datastore.create_user(
                username=username, full_name=full_name, password=hashed,
                active=True, created_at=_at(today - datetime.timedelta(days=800), 9, 0))
            user.set_roles(Role.select().where(Role.code.in_([role_code])))
            created += 1
        users[username] = user
    return users, created


def load_products():
    """The four products of SPEC.md, each new one with its stock in the warehouses."""
    products, created = [], 0
    for name, model, batch, unit, price, note, stock in PRODUCTS:
        product = Product.get_or_none(Product.name == name, Product.model == model,
                                      Product.batch == batch)
        if product is None:
            product = Product.create(name=name, model=model, batch=batch, unit=unit,
                                     price=Decimal(price), note=note)
            Stock.insert_many([
                {"product": product.id, "warehouse": warehouse, "location": location,
                 "quantity": quantity, "note": stock_note}
                for warehouse, location, quantity, stock_note in stock]).execute()
            created += 1
        products.append(product)
    return products, created


def _at(day, hour=None, minute=None, rng=None):
    """A time of ``day`` on the company's clock, the given one, else a random one in office
    hours; as stored (UTC)."""
    if hour is None:
        hour = rng.randint(8, 17)
    if minute is None:
        minute = rng.choice([0, 10, 15, 20, 30, 40, 45, 50])
    return stored(datetime.datetime.combine(day, datetime.time(hour, minute)))


class _Business:
    """Customers with contacts, activities, orders and churn; opportunities; services."""

    def __init__(self, rng, today, users, products):
        self.rng, self.today, self.users, self.products = rng, today, users, products
        self.managers = [users[name] for name in MANAGERS]
        self.supervisor = users["supervisor"]

    def days_ago(self, days):
        return self.today - datetime.timedelta(days=days)

    def at(self, day):
        return _at(day, rng=self.rng)

    @staticmethod
    def later(at, **delta):
        """``at`` plus ``delta``, moved into the company's office hours (8:00–18:00)."""
        wall = local(at) + datetime.timedelta(**delta)
        if wall.hour < 8:
            wall = wall.replace(hour=9)
        elif wall.hour >= 18:
            wall = (wall + datetime.timedelta(days=1)).replace(hour=9)
        return stored(wall)

    def person(self):
        rng = self.rng
        female = rng.random() < 0.4
        given = rng.choice(GIVEN_FEMALE if female else GIVEN_MALE)
        return rng.choice(SURNAMES) + given, (Contact.FEMALE if female else Contact.MALE)

    def digits(self, n):
        return str(self.rng.randint(1, 9)) + "".join(
            str(self.rng.randint(0, 9)) for _ in range(n - 1))

    def mobile(self):
        return "1" + self.rng.choice(["38", "39", "35", "36", "37", "50", "58", "86", "89",
                                      "33", "80"]) + self.digits(8)

    def load(self):
        customers = self.customers()
        self.orders(customers)
        self.churn(customers)
        self.opportunities(customers)
        self.services(customers)

    # -- customers ---------------------------------------------------------------

    def customers(self):
        """50 customers: 35 old ones, 12 newer, 3 developed from opportunities (the last)."""
        rng = self.rng
        brands = rng.sample(BRANDS, 50)
        ages = ([rng.randint(560, 760) for _ in range(35)]
                + [rng.randint(30, 540) for _ in range(12)]
                + [rng.randint(90, 480) for _ in range(3)])
        managers = self.managers * 25
        rng.shuffle(managers)
        regions = [region for region, count in REGION_COUNTS.items() for _ in range(count)]
        rng.shuffle(regions)
        specs = []
        for i, (brand, age) in enumerate(zip(brands, ages)):
            spec = self.customer_spec(brand, managers[i], regions[i])
            spec["created_at"] = self.at(self.days_ago(age))
            spec["_developed"] = i >= 47
            specs.append(spec)
        # A handful of old customers stopped ordering: days since their last order.
        dormant = rng.sample([s for s in specs[:35]], 6)
        for spec, gap in zip(dormant, [210, 260, 300, 330, 400, 450]):
            spec["_gap"] = gap

        specs.sort(key=lambda s: s["created_at"])
        customers, contacts, activities = [], [], []
        for spec in specs:
            extra = {k: spec.pop(k) for k in [k for k in spec if k.startswith("_")]}
            day = local(spec["created_at"]).date()
            customer = Customer.create(number=Customer.next_number(day), **spec)
            customer.developed = extra["_developed"]
            customer.gap = extra.get("_gap")
            customer.contact_rows = self.contacts(customer)
            contacts += customer.contact_rows
            activities += self.activities(customer)
            customers.append(customer)
        for batch in chunked(contacts, 100):
            Contact.insert_many(batch).execute()
        for batch in chunked(activities, 100):
            Activity.insert_many(batch).execute()
        return customers

    def customer_spec(self, brand, manager, region):
        rng = self.rng
        _, city, code, districts, zip3, area, admin = rng.choice(
            [c for c in CITIES if c[0] == region])
        district = rng.choice(districts)
        hanzi, pinyin = brand
        capital = rng.choice([50, 100, 200, 300, 500, 800, 1000, 2000, 5000])
        org = self.digits(9)
        phone = self.digits(8)
        return {
            "name": f"{city}{hanzi}{rng.choice(TRADES)}",
            "region": region,
            "manager": manager,
            "level": rng.choices([1, 2, 3, 4, 5], weights=[30, 25, 20, 15, 10])[0],
            "satisfaction": rng.choices([1, 2, 3, 4, 5], weights=[3, 8, 30, 40, 19])[0],
            "credit": rng.choices([1, 2, 3, 4, 5], weights=[3, 7, 25, 40, 25])[0],
            "address": f"{city}市{district}{rng.randint(1, 300)}号",
            "zip_code": f"{zip3}{rng.randint(0, 99):02d}0",
            "phone": f"{area}-{phone}",
            "fax": f"{area}-{phone[:-2]}{rng.randint(10, 99)}",
            "website": f"www.{code}{pinyin}.com.cn",
            "license_no": "91" + admin + "MA" + self.digits(7) + rng.choice("0123456789X"),
            "legal_person": self.person()[0],
            "registered_capital": Decimal(capital),
            "annual_revenue": Decimal(capital * rng.randint(15, 80) // 10),
            "bank": f"{rng.choice(BANKS)}{city}{district[:district.index('区')]}支行",
            "bank_account": self.digits(19),
            "local_tax_no": admin + org,
            "national_tax_no": admin + org,
        }

    def contacts(self, customer):
        rng = self.rng
        area = customer.phone.split("-")[0]
        rows = []
        for title in rng.sample(TITLES, rng.choice([1, 2, 2, 3])):
            name, gender = self.person()
            rows.append({"customer": customer.id, "name": name, "gender": gender,
                         "title": title, "office_phone": f"{area}-{self.digits(8)}",
                         "mobile": self.mobile(), "note": rng.choice(CONTACT_NOTES)})
        return rows

    def activities(self, customer):
        rng = self.rng
        first = local(customer.created_at).date()
        span = (self.today - first).days - 1
        days = sorted(rng.sample(range(1, span + 1), min(span, rng.randint(2, 4))))
        return [{"customer": customer.id, "date": first + datetime.timedelta(days=d),
                 "place": rng.choice(PLACES), "summary": summary, "detail": detail,
                 "note": rng.choice(ACTIVITY_NOTES)}
                for d, (summary, detail) in zip(days, rng.sample(ACTIVITIES, len(days)))]

    # -- orders --------------------------------------------------------------------

    def orders(self, customers):
        """Two years of orders; a dormant customer's stop ``gap`` days before today."""
        rng = self.rng
        orders = []
        for customer in customers:
            created = local(customer.created_at).date()
            day = max(created, self.days_ago(730)) + datetime.timedelta(days=rng.randint(3, 30))
            last = self.days_ago(customer.gap or 1)
            if customer.gap:
                day = min(day, last)  # he ordered at least once before he stopped
            while day <= last:
                orders.append((day, customer))
                day += datetime.timedelta(days=rng.randint(20, 90))
        orders.sort(key=lambda o: (o[0], o[1].id))

        rows, lines, seq = [], {}, {}
        for day, customer in orders:
            seq[day] = seq.get(day, 0) + 1
            number = f"DD{day:%Y%m%d}{seq[day]:03d}"
            recent = (self.today - day).days <= 45
            unpaid = rng.random() < (0.6 if recent else 0.05)
            address = customer.address if rng.random() < 0.85 else \
                customer.address.split("区")[0] + "区仓储路" + str(rng.randint(1, 99)) + "号仓库"
            rows.append({"customer": customer.id, "number": number, "date": day,
                         "address": address, "status": Order.UNPAID if unpaid else Order.PAID})
            lines[number] = self.order_lines(customer)
        for batch in chunked(rows, 200):
            Order.insert_many(batch).execute()
        ids = dict(Order.select(Order.number, Order.id).tuples())
        line_rows = [{**line, "order": ids[number]}
                     for number, order_lines in lines.items() for line in order_lines]
        for batch in chunked(line_rows, 200):
            OrderLine.insert_many(batch).execute()

    def order_lines(self, customer):
        rng = self.rng
        count = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
        scale = 1 + (customer.level or 1) / 2
        rows = []
        for product in rng.sample(self.products, count):
            if product.price < 100:
                quantity = rng.randint(1, 20) * 10
            else:
                quantity = max(1, int(rng.randint(1, 12) * scale))
            rows.append({"product": product.id, "quantity": quantity,
                         "unit": product.unit, "price": product.price})
        return rows

    # -- churn ---------------------------------------------------------------------

    def churn(self, customers):
        """A warning, a postponed and a confirmed churn record for three dormant customers;
        the other dormant customers are left for detection to find."""
        by_gap = {c.gap: c for c in customers if c.gap}
        for gap, status in [(260, ChurnRecord.WARNING), (330, ChurnRecord.POSTPONED),
                            (450, ChurnRecord.CONFIRMED)]:
            customer = by_gap[gap]
            last_order = (Order.select(Order.date).where(Order.customer == customer)
                          .order_by(Order.date.desc()).scalar())
            detected = last_order + datetime.timedelta(days=190)
            record = ChurnRecord.create(customer=customer, last_order_date=last_order,
                                        status=ChurnRecord.WARNING,
                                        created_at=_at(detected, 2, 0))
            if status == ChurnRecord.WARNING:
                continue
            manager = customer.manager
            measures = []
            for i, text in enumerate(MEASURES[:2]):
                day = detected + datetime.timedelta(days=12 + 30 * i)
                measures.append(f"{day:%Y-%m-%d} {manager.full_name}：{text}")
                if i == 0:
                    StatusChange.record(record, ChurnRecord.WARNING, ChurnRecord.POSTPONED,
                                        manager, self.at(day))
            record.measures = "\n".join(measures)
            record.status = ChurnRecord.POSTPONED
            if status == ChurnRecord.CONFIRMED:
                record.status = ChurnRecord.CONFIRMED
                record.reason = "客户业务转型，改由集团总部统一向其他供应商采购，明确表示不再合作"
                record.confirmed_at = self.at(self.days_ago(40))
                StatusChange.record(record, ChurnRecord.POSTPONED, ChurnRecord.CONFIRMED,
                                    manager, record.confirmed_at)
                customer.status = Customer.LOST
                customer.save()
                StatusChange.record(customer, Customer.ACTIVE, Customer.LOST, manager,
                                    record.confirmed_at)
            record.save()

    # -- opportunities -------------------------------------------------------------

    def opportunities(self, customers):
        rng = self.rng
        creators = [self.supervisor] + self.managers
        prospects = list(PROSPECTS)
        rng.shuffle(prospects)
        plan = []
        statuses = [Opportunity.NEW] * 4 + [Opportunity.ASSIGNED] * 5 + [Opportunity.FAILED] * 3
        for status, (name, source, summary, description) in zip(statuses, prospects):
            contact, _ = self.person()
            if status == Opportunity.NEW:
                created = self.at(self.days_ago(rng.randint(1, 25)))
            elif status == Opportunity.ASSIGNED:
                created = self.at(self.days_ago(rng.randint(20, 120)))
            else:
                created = self.at(self.days_ago(rng.randint(100, 400)))
            opportunity = Opportunity.open(
                by=rng.choice(creators), at=created,
                source=source, customer_name=name, summary=summary, description=description,
                probability=rng.choice({Opportunity.NEW: [20, 30, 40, 50, 60],
                                        Opportunity.ASSIGNED: [40, 50, 60, 70, 80],
                                        Opportunity.FAILED: [10, 20, 30, 40]}[status]),
                contact=contact, contact_phone=self.mobile())
            if status == Opportunity.NEW:
                continue
            self.assign(opportunity, rng.choice(self.managers),
                        self.later(created, days=rng.randint(1, 5), hours=2))
            start = local(opportunity.assigned_at).date()
            if status == Opportunity.ASSIGNED:
                day = start
                for content, result in PLAN_STEPS[:rng.randint(2, 4)]:
                    day += datetime.timedelta(days=rng.randint(3, 15))
                    plan.append({"opportunity": opportunity.id, "date": day, "content": content,
                                 "result": result if day < self.today else None})
            else:
                steps = PLAN_STEPS[:rng.randint(2, 3)]
                end = start + datetime.timedelta(days=rng.randint(30, 60))
                for day, (content, result) in zip(self.spread(start, end, len(steps)), steps):
                    plan.append({"opportunity": opportunity.id, "date": day, "content": content,
                                 "result": result})
                tender = source == "招标信息"
                plan[-1]["result"] = FAILURES[2] if tender else rng.choice(FAILURES[:2])
                opportunity.stop(by=opportunity.assigned_to, at=self.at(end))

        for customer, (source, summary, description) in zip(
                [c for c in customers if c.developed], DEVELOPED):
            contact = customer.contact_rows[0]
            developed = customer.created_at
            created = self.at(local(developed).date() -
                              datetime.timedelta(days=rng.randint(40, 70)))
            creator = rng.choice([self.supervisor, customer.manager])
            opportunity = Opportunity.open(
                by=creator, at=created, source=source, customer_name=customer.name,
                summary=summary, description=description,
                probability=rng.choice([60, 70, 80, 90]),
                contact=contact["name"], contact_phone=contact["office_phone"])
            self.assign(opportunity, customer.manager,
                        self.later(created, days=rng.randint(1, 4), hours=1))
            steps = [PLAN_STEPS[i] for i in (0, 1, 4, 5)]
            start = local(opportunity.assigned_at).date()
            for day, (content, result) in zip(
                    self.spread(start, local(developed).date(), len(steps)), steps):
                plan.append({"opportunity": opportunity.id, "date": day, "content": content,
                             "result": result})
            opportunity.customer = customer
            self.close(opportunity, Opportunity.DEVELOPED, developed)
        PlanItem.insert_many(plan).execute()

    def spread(self, start, end, count):
        """``count`` sorted distinct days strictly between ``start`` and ``end``."""
        span = (end - start).days
        offsets = sorted(self.rng.sample(range(1, span), count))
        return [start + datetime.timedelta(days=d) for d in offsets]

    def assign(self, opportunity, manager, at):
        opportunity.assign(manager, by=self.supervisor, at=at)
        opportunity.assigned_to = manager  # the verb stores the id

    def close(self, opportunity, status, at):
        """开发成功 onto a customer the demo made earlier (develop() would make a new one)."""
        opportunity.status = status
        opportunity.save()
        StatusChange.record(opportunity, Opportunity.ASSIGNED, status,
                            opportunity.assigned_to, at)

    # -- services ------------------------------------------------------------------

    def services(self, customers):
        """27 archived services of the last 18 months (one sent back once by a bad feedback),
        and three each 新创建, 已分配 and 已处理 of the last two weeks."""
        rng = self.rng
        candidates = [c for c in customers if c.status == Customer.ACTIVE]
        plan = ([(ServiceRequest.ARCHIVED, rng.randint(20, 550)) for _ in range(27)]
                + [(ServiceRequest.HANDLED, rng.randint(6, 12)) for _ in range(3)]
                + [(ServiceRequest.ASSIGNED, rng.randint(3, 8)) for _ in range(3)]
                + [(ServiceRequest.NEW, rng.randint(1, 4)) for _ in range(3)])
        plan.sort(key=lambda p: -p[1])
        sent_back = False
        for status, age in plan:
            day = self.days_ago(age)
            customer = rng.choice([c for c in candidates if local(c.created_at).date() < day])
            kind = rng.choices(list(SERVICE_WEIGHTS), weights=list(SERVICE_WEIGHTS.values()))[0]
            summary, request, handling, result = rng.choice(SERVICES[kind])
            creator = customer.manager
            at = self.at(day)
            service = ServiceRequest.open(by=creator, at=at, service_type=kind, summary=summary,
                                          customer=customer, request=request)
            if status == ServiceRequest.NEW:
                continue
            assignee = creator if rng.random() < 0.8 else \
                [m for m in self.managers if m.id != creator.id][0]
            at = self.later(at, hours=rng.randint(2, 20))
            service.assign(assignee, by=self.supervisor, at=at)
            if status == ServiceRequest.ASSIGNED:
                continue
            at = self.later(at, hours=rng.randint(3, 48))
            service.handle(handling, by=assignee, at=at)
            if status == ServiceRequest.HANDLED:
                continue
            at += datetime.timedelta(days=rng.randint(2, 5))
            if kind == "投诉" and not sent_back:
                # The customer was not satisfied (满意度 2): back to 已分配, handled again.
                sent_back = True
                service.record_feedback(UNSATISFIED, 2, by=creator, at=at)
                at += datetime.timedelta(days=rng.randint(1, 3))
                service.handle(RECHECK, by=assignee, at=at)
                at += datetime.timedelta(days=rng.randint(2, 4))
            service.record_feedback(result, rng.choices([3, 4, 5], weights=[2, 5, 4])[0],
                                    by=creator, at=at)
