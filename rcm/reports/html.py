"""The KPI report as one self-contained HTML page: tables plus inline SVG bar charts, no
JavaScript and no external assets, so it can be archived and opened years later."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from rcm.reports.kpis import AGING_BUCKETS, KpiReport

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #ccd3db;padding:.3rem .6rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.meets{color:#17723a}.below{color:#b3261e}
"""

_BAR_COLORS = ("#2f6db3", "#4f8fd6", "#e3a33b", "#d9702b", "#b3261e")


def _bar_chart(
    title: str, items: list[tuple[str, Decimal]], *, unit: str = "", width: int = 640
) -> str:
    """A horizontal bar chart; each item is (label, value)."""
    bar_h, gap, label_w = 22, 8, 220
    height = max(1, len(items)) * (bar_h + gap) + gap
    peak = max((abs(v) for _, v in items), default=Decimal(0)) or Decimal(1)
    scale = Decimal(width - label_w - 90) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">'
    ]
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = int(abs(value) * scale)
        color = _BAR_COLORS[i % len(_BAR_COLORS)]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{color}"/>'
            f'<text x="{label_w + w + 6}" y="{y + 16}" font-size="12">'
            f"{escape(str(value))}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def render_kpi_html(report: KpiReport) -> bytes:
    """The report as UTF-8 HTML bytes, ready for the archive."""
    out: list[str] = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>KPIs {escape(report.practice)} {report.as_of}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Revenue-cycle KPIs — {escape(report.practice)}</h1>",
        f"<p>{report.window_start} to {report.as_of} ({report.period_days} days)</p>",
        "<h2>Key indicators</h2><table><tr><th>KPI</th><th>value</th><th>benchmark</th>"
        "<th>status</th><th>numerator / denominator</th></tr>",
    ]
    for row in report.table_rows():
        css = row["status"] if row["status"] in ("meets", "below") else ""
        out.append(
            f"<tr><td>{escape(row['kpi'])}</td><td class='num'>{escape(row['value'])}</td>"
            f"<td>{escape(row['benchmark'])}</td><td class='{css}'>{escape(row['status'])}</td>"
            f"<td class='num'>{escape(row['detail'])}</td></tr>"
        )
    out.append("</table>")
    rates = [(k.label, k.value) for k in report.kpis if k.unit == "%" and k.value is not None]
    if rates:
        out.append("<h2>Rates</h2>" + _bar_chart("Rates", rates, unit="%"))

    out.append("<h2>Aged A/R by payer</h2><table><tr><th>payer</th>")
    out.extend(f"<th>{label}</th>" for label, _, _ in AGING_BUCKETS)
    out.append("<th>total</th></tr>")
    for aging in report.aging:
        out.append(f"<tr><td>{escape(aging.payer)}</td>")
        out.extend(f"<td class='num'>{aging.buckets[label]}</td>" for label, _, _ in AGING_BUCKETS)
        out.append(f"<td class='num'>{aging.total}</td></tr>")
    out.append("</table>")
    bucket_totals = [
        (label, sum((a.buckets[label] for a in report.aging), Decimal("0.00")))
        for label, _, _ in AGING_BUCKETS
    ]
    out.append(_bar_chart("A/R by age", bucket_totals, unit=""))

    out.append(
        "<h2>Top denial reasons</h2><table><tr><th>CARC</th><th>category</th><th>count</th>"
        "<th>amount</th></tr>"
    )
    for reason in report.denial_reasons:
        out.append(
            f"<tr><td>{escape(reason.carc)}</td><td>{escape(reason.category)}</td>"
            f"<td class='num'>{reason.count}</td><td class='num'>{reason.amount}</td></tr>"
        )
    out.append("</table>")
    if report.denial_reasons:
        out.append(
            _bar_chart(
                "Denials by CARC",
                [(f"CARC {r.carc}", Decimal(r.count)) for r in report.denial_reasons],
            )
        )
    out.append("</body></html>")
    return "".join(out).encode("utf-8")


__all__ = ["render_kpi_html"]
