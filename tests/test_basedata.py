"""基础数据: the data dictionary's rules and form, product and stock lookup."""
import datetime
import re

import pytest

from models import (
    Customer,
    DictionaryEntry,
    DomainError,
    Opportunity,
    Product,
    ServiceRequest,
    Stock,
)
from tests.conftest import csrf_token


def test_entries_marked_not_editable_can_be_neither_edited_nor_deleted(database):
    fixed = DictionaryEntry.get(DictionaryEntry.item == "大客户")
    with pytest.raises(DomainError):
        fixed.ensure_editable()
    DictionaryEntry.get(DictionaryEntry.item == "北京").ensure_editable()  # editable: no error


def test_a_fixed_entry_survives_edit_and_delete_through_the_screen(client_for):
    fixed = DictionaryEntry.get(DictionaryEntry.item == "大客户")
    client = client_for("admin")
    token = csrf_token(client, "/admin/dictionary/")
    client.post(f"/admin/dictionary/edit/?id={fixed.id}", data={
        "category": fixed.category, "item": "超大客户", "value": "3", "csrf_token": token})
    client.post("/admin/dictionary/delete/", data={"id": fixed.id, "csrf_token": token})
    assert DictionaryEntry.get_by_id(fixed.id).item == "大客户"
    assert "系统条目" in client.get("/admin/dictionary/").get_data(as_text=True)


def test_an_administrator_adds_an_entry_to_a_category(client_for):
    client = client_for("admin")
    response = client.post("/admin/dictionary/new/", data={
        "category": "地区", "item": "华东", "value": "华东", "editable": "y",
        "csrf_token": csrf_token(client, "/admin/dictionary/new/")})
    assert response.status_code == 302
    assert "华东" in DictionaryEntry.items("地区")


def test_the_category_suggests_the_existing_ones_as_you_type(client_for):
    page = client_for("admin").get("/admin/dictionary/new/").get_data(as_text=True)
    field = re.search(r'<input[^>]*id="category"[^>]*>', page).group(0)
    assert 'list="crm-categories"' in field
    datalist = page.split('<datalist id="crm-categories">', 1)[1].split("</datalist>", 1)[0]
    assert sorted(re.findall(r'value="([^"]+)"', datalist)) == sorted(
        ["企业客户等级", "地区", "服务类型"])


def test_products_and_stock_are_looked_up_not_edited(client_for):
    product = Product.create(name="海龙笔记本电脑", model="i60", batch="2688 9966", unit="台",
                             price=9800)
    Stock.create(product=product, warehouse="北京-西直门库", location="A-01", quantity=30)
    client = client_for("xiaoming")
    assert "i60" in client.get("/admin/product/?search=海龙").get_data(as_text=True)
    assert "A-01" in client.get("/admin/stock/?search=西直门").get_data(as_text=True)
    for url in ("/admin/product/new/", f"/admin/product/edit/?id={product.id}",
                "/admin/stock/new/"):
        assert client.get(url).status_code == 403


def _delete_forms(page):
    """The ids the rendered list offers to delete (the 删除 row buttons' hidden ids)."""
    return set(re.findall(r'<form[^>]*action="/admin/dictionary/delete/"[^>]*>\s*'
                          r'<input type="hidden" name="id" value="(\d+)"', page))


def test_a_locked_entry_shows_neither_edit_nor_delete_in_the_list(client_for):
    fixed = DictionaryEntry.get(DictionaryEntry.item == "大客户")
    open_entry = DictionaryEntry.get(DictionaryEntry.item == "北京")
    page = client_for("admin").get("/admin/dictionary/?page_size=100").get_data(as_text=True)
    assert f"/admin/dictionary/edit/?id={open_entry.id}&" in page
    assert f"/admin/dictionary/edit/?id={fixed.id}&" not in page
    deletable = _delete_forms(page)
    assert str(open_entry.id) in deletable and str(fixed.id) not in deletable
    assert f"/admin/dictionary/details/?id={fixed.id}&" in page  # 查看 stays
    locked = {str(e.id) for e in DictionaryEntry.select().where(DictionaryEntry.editable == False)}  # noqa: E712
    assert len(locked) == 5 and not locked & deletable


def test_a_crafted_edit_url_of_a_locked_entry_is_refused_and_writes_nothing(client_for):
    fixed = DictionaryEntry.get(DictionaryEntry.item == "大客户")
    client = client_for("admin")
    response = client.get(f"/admin/dictionary/edit/?id={fixed.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/dictionary/")
    page = client.get("/admin/dictionary/").get_data(as_text=True)
    assert "系统条目" in page  # the message, on the list
    response = client.post(f"/admin/dictionary/edit/?id={fixed.id}", data={
        "category": "企业客户等级", "item": "超大客户", "value": "9",
        "csrf_token": csrf_token(client, "/admin/dictionary/")})
    assert response.status_code == 302
    fixed = DictionaryEntry.get_by_id(fixed.id)
    assert (fixed.item, fixed.value, fixed.editable) == ("大客户", "3", False)
    details = client.get(f"/admin/dictionary/details/?id={fixed.id}").get_data(as_text=True)
    assert f"/admin/dictionary/edit/?id={fixed.id}" not in details  # no 编辑 tab either
    open_entry = DictionaryEntry.get(DictionaryEntry.item == "北京")
    assert client.get(f"/admin/dictionary/edit/?id={open_entry.id}").status_code == 200


def test_details_pages_have_no_filter_box(client_for, users):
    opportunity = Opportunity.open(by=users["supervisor"], customer_name="明细机会",
                                   probability=80, summary="采购", description="预算已批")
    customer = Customer.create_numbered(datetime.datetime(2026, 11, 2, 9), name="明细客户",
                                        manager=users["xiaoming"])
    service = ServiceRequest.open(by=users["xiaoming"], service_type="咨询", summary="问价格",
                                  customer=customer, request="请报价")
    entry = DictionaryEntry.get(DictionaryEntry.item == "北京")
    for username, url in [("admin", f"/admin/dictionary/details/?id={entry.id}"),
                          ("supervisor", f"/admin/customer/details/?id={customer.id}"),
                          ("supervisor", f"/admin/service_archive/details/?id={service.id}"),
                          ("supervisor", f"/admin/opportunity/details/?id={opportunity.id}"),
                          ("admin", f"/admin/user/details/?id={users['xiaoming'].id}")]:
        response = client_for(username).get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "<table" in page, url
        assert 'id="fa_filter"' not in page and "筛选器" not in page, url


@pytest.mark.parametrize("term", ["海龙笔记本", "i61", "2689 6688", "6688"])
def test_stock_is_found_by_the_products_name_model_and_batch(client_for, term):
    """查询库存 searches the product's 名称, 型号 and 批次, not only the warehouse."""
    other = Product.create(name="幸福牌收音机", model="天语007", batch="7878 006A", unit="台",
                           price=36)
    Stock.create(product=other, warehouse="北京-大钟寺库", location="D-01-04", quantity=1500)
    product = Product.create(name="海龙笔记本电脑", model="i61", batch="2689 6688", unit="台",
                             price=16800)
    Stock.create(product=product, warehouse="北京-马甸库", location="B-04-04", quantity=20)
    page = client_for("xiaoming").get(f"/admin/stock/?search={term}").get_data(as_text=True)
    assert "B-04-04" in page
    assert "D-01-04" not in page  # the search narrowed the list
