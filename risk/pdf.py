"""``hazgate report monthly``: the month's figures as a PDF for the park's safety office.

Charts are drawn with matplotlib (Agg, an own ``Figure`` per chart: no global pyplot state) and
placed with reportlab's page layout. Chinese text needs a CJK font: WenQuanYi Micro Hei from
Debian's ``fonts-wqy-microhei`` (``make run`` installs it), registered with both libraries.
Four pages: summary, gate, alerts, risk index.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from risk.errors import RiskError
from risk.figures import MonthlyFigures

FONT_PATHS: Final = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
)
FONT_NAME: Final = "WQYMicroHei"
GRADE_COLOURS: Final = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}
PAGES: Final = 4


def find_font() -> Path:
    for path in FONT_PATHS:
        if path.is_file():
            return path
    raise RiskError(
        "no CJK font for the report's Chinese text (WenQuanYi Micro Hei)",
        hint="install it: sudo apt-get install fonts-wqy-microhei (make run does this)",
    )


def _register(font: Path) -> None:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(font), subfontIndex=0))


def _png(fig: Figure) -> Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    buf.seek(0)
    width_pt = 170 * mm
    w, h = fig.get_size_inches()
    return Image(buf, width=width_pt, height=width_pt * h / w)


def _bar(
    labels: Sequence[str], values: Sequence[float], title: str, font: FontProperties, colour: str = "#1565c0"
) -> Image:
    fig = Figure(figsize=(7.5, max(2.2, 0.35 * len(labels) + 1.2)))
    ax = fig.add_subplot()
    if labels:
        ax.barh(list(labels)[::-1], list(values)[::-1], color=colour)
        for i, v in enumerate(list(values)[::-1]):
            ax.text(v, i, f" {v:g}", va="center", fontproperties=font, fontsize=8)
    else:
        ax.text(0.5, 0.5, "无记录 / none", ha="center", va="center", fontproperties=font)
        ax.set_yticks([])
    ax.set_title(title, fontproperties=font)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for label in ax.get_yticklabels():
        label.set_fontproperties(font)
        label.set_fontsize(8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _ack_chart(fig_data: MonthlyFigures, font: FontProperties) -> Image:
    kinds = [k for k in fig_data.alerts.by_kind if k.median_ack_min is not None]
    fig = Figure(figsize=(7.5, 2.8))
    ax = fig.add_subplot()
    if kinds:
        x = range(len(kinds))
        ax.bar(
            [i - 0.2 for i in x],
            [k.median_ack_min or 0 for k in kinds],
            width=0.4,
            label="中位数 median",
            color="#1565c0",
        )
        ax.bar([i + 0.2 for i in x], [k.p90_ack_min or 0 for k in kinds], width=0.4, label="P90", color="#90caf9")
        ax.set_xticks(list(x), [k.kind for k in kinds])
        ax.legend(prop=font)
        ax.set_ylabel("分钟 min", fontproperties=font)
    else:
        ax.text(0.5, 0.5, "本月无已确认报警 / no acknowledged alerts", ha="center", va="center", fontproperties=font)
    ax.set_title("报警确认用时 Time to acknowledge", fontproperties=font)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _distribution_chart(f: MonthlyFigures, font: FontProperties) -> Image:
    groups = [
        ("承运企业 carriers", f.index.carriers),
        ("车辆 vehicles", f.index.vehicles),
        ("驾驶员 drivers", f.index.drivers),
    ]
    fig = Figure(figsize=(7.5, 2.8))
    ax = fig.add_subplot()
    left = [0.0, 0.0, 0.0]
    for grade in ("green", "yellow", "red"):
        values = [float(getattr(d, grade)) for _, d in groups]
        ax.barh([g for g, _ in groups], values, left=left, color=GRADE_COLOURS[grade], label=grade)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.legend(prop=font, loc="lower right")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for label in ax.get_yticklabels():
        label.set_fontproperties(font)
    ax.set_title("风险指数分布 Index distribution", fontproperties=font)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _table(rows: list[list[Any]], widths: Sequence[float] | None = None) -> Table:
    table = Table([[str(c) for c in row] for row in rows], colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT_NAME),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3f2fd")),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def render_pdf(f: MonthlyFigures, out: Path, generated_at: datetime) -> int:
    """Write the report to ``out``; returns the number of pages (:data:`PAGES` unless a table is long)."""
    font_path = find_font()
    _register(font_path)
    font = FontProperties(fname=str(font_path))
    h1 = ParagraphStyle("h1", fontName=FONT_NAME, fontSize=18, leading=24, spaceAfter=8)
    h2 = ParagraphStyle("h2", fontName=FONT_NAME, fontSize=14, leading=20, spaceAfter=6)
    body = ParagraphStyle("body", fontName=FONT_NAME, fontSize=10, leading=14)
    g, a, ix = f.gate, f.alerts, f.index
    story: list[Any] = [
        Paragraph(f"危险化学品运输安全月报 Monthly safety report — {f.site} {f.month}", h1),
        Paragraph(f"生成时间 generated {generated_at:%Y-%m-%d %H:%M %Z}，数据来自 hazgate", body),
        Spacer(1, 6 * mm),
        _table(
            [
                ["指标 figure", "数值 value"],
                ["入园检查 entries", g.entries],
                ["通过 passed", g.passed],
                ["未通过 failed", g.failed],
                ["人工复核 review", g.review],
                ["人工改判 overridden", g.overridden],
                ["放行 admitted", g.admitted],
                ["未通过率 failure rate %", f"{g.failure_rate_pct:g}"],
                ["报警 alerts", a.total],
                ["未确认报警 unacknowledged", a.unacknowledged],
                ["确认用时中位数 median time to ack (min)", _fmt(a.median_ack_min)],
                ["承运企业 carriers green/yellow/red", f"{ix.carriers.green}/{ix.carriers.yellow}/{ix.carriers.red}"],
                ["车辆 vehicles green/yellow/red", f"{ix.vehicles.green}/{ix.vehicles.yellow}/{ix.vehicles.red}"],
                ["驾驶员 drivers green/yellow/red", f"{ix.drivers.green}/{ix.drivers.yellow}/{ix.drivers.red}"],
            ],
            widths=[100 * mm, 50 * mm],
        ),
        PageBreak(),
        Paragraph("一、入园检查 Gate entries", h2),
        _bar(
            ["通过 passed", "未通过 failed", "复核 review"],
            [g.passed, g.failed, g.review],
            "入园检查结果 Entries by result",
            font,
        ),
        _bar(
            [r.code for r in g.failures_by_reason],
            [r.count for r in g.failures_by_reason],
            "未通过原因 Failures by reason",
            font,
            colour="#c62828",
        ),
        _table(
            [["原因 reason", "次数 count"], *[[r.code, r.count] for r in g.failures_by_reason]],
            widths=[110 * mm, 40 * mm],
        ),
        PageBreak(),
        Paragraph("二、报警 Alerts", h2),
        _bar(
            [k.kind for k in a.by_kind], [k.count for k in a.by_kind], "报警类型 Alerts by kind", font, colour="#ef6c00"
        ),
        _ack_chart(f, font),
        _table(
            [
                ["类型 kind", "报警 alerts", "已确认 acked", "中位数 median min", "P90 min"],
                *[[k.kind, k.count, k.acknowledged, _fmt(k.median_ack_min), _fmt(k.p90_ack_min)] for k in a.by_kind],
            ]
        ),
        PageBreak(),
        Paragraph("三、风险指数 Risk index", h2),
        Paragraph("满分100分，扣分制；≥90 绿色，<70 红色 (100 less deductions; green ≥ 90, red < 70)", body),
        _distribution_chart(f, font),
        Paragraph("风险最高的承运企业 Reddest carriers", h2),
        _table(
            [
                ["承运企业 carrier", "名称 name", "得分 score", "等级 grade", "主要扣分 main deduction"],
                *[[c.id, c.name or "", f"{c.score:g}", c.grade, c.top_deduction or ""] for c in ix.reddest_carriers],
            ]
        ),
    ]
    doc = SimpleDocTemplate(
        str(out),
        pagesize=A4,
        title=f"hazgate monthly report {f.site} {f.month}",
        author="hazgate",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    )
    doc.build(story)
    return int(doc.page)
