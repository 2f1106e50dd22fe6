"""When a credit line becomes a programme (only named suppliers draw on it)."""

from conftest import CNY


def test_taking_off_a_supplier_never_named_leaves_the_line_open_to_all(
    credit_lines, financier, core, supplier2
):
    line = credit_lines.lineOf(financier, core, CNY)

    credit_lines.setSupplierLimit(line, supplier2, 0, sender=financier)

    assert not credit_lines.creditLine(line).programme
    assert credit_lines.headroom(line, supplier2) > 0


def test_first_named_supplier_makes_the_line_a_programme_for_good(
    credit_lines, financier, core, supplier, supplier2
):
    line = credit_lines.lineOf(financier, core, CNY)

    credit_lines.setSupplierLimit(line, supplier, 1_000, sender=financier)
    credit_lines.setSupplierLimit(line, supplier, 0, sender=financier)

    assert credit_lines.creditLine(line).programme
    assert credit_lines.headroom(line, supplier) == 0
    assert credit_lines.headroom(line, supplier2) == 0
