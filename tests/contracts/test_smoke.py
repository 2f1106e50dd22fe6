def test_register_and_confirm_makes_receivable_active(active_receivable, receivables, supplier):
    rid = active_receivable()
    r = receivables.receivable(rid)
    assert r.holder == supplier.address
    assert r.status == 2
