"""基础数据: the data dictionary's rules and form, product and stock lookup."""
import re

import pytest

from models import DictionaryEntry, DomainError, Product, Stock
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
