"""The dashboard's labels in English and Simplified Chinese, and the choice of language.

Every label a page shows goes through :func:`translate` with a key of
:data:`CATALOGUE`; a missing key is an error (a test checks that every key a
template uses is in the catalogue, in both languages). The language comes
from the ``mg_lang`` cookie (the switch on the page) or else the browser's
``Accept-Language`` (RFC 9110 quality values); English when neither names
one of :data:`LANGUAGES`.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "mg_lang"

CATALOGUE: dict[str, dict[str, str]] = {
    # frame
    "app_title": {"en": "Park energy and carbon centre", "zh-CN": "园区数字能源与碳管理中心"},
    "nav_today": {"en": "Today", "zh-CN": "今日计划"},
    "nav_compare": {"en": "Compare", "zh-CN": "方案对比"},
    "nav_events": {"en": "Demand response", "zh-CN": "需求响应"},
    "nav_network": {"en": "Network", "zh-CN": "配电网"},
    "nav_studies": {"en": "Studies", "zh-CN": "仿真研究"},
    "park": {"en": "Park", "zh-CN": "园区"},
    "date": {"en": "Date", "zh-CN": "日期"},
    "show": {"en": "Show", "zh-CN": "显示"},
    "sign_out": {"en": "Sign out", "zh-CN": "退出"},
    "signed_in_as": {"en": "Key", "zh-CN": "密钥"},
    "language": {"en": "Language", "zh-CN": "语言"},
    "timezone_note": {"en": "Times in {tz}", "zh-CN": "时间为 {tz}"},
    "no_parks": {"en": "This key may use no park yet. Ask the administrator to register one.",
                 "zh-CN": "此密钥尚无可用园区，请联系管理员注册园区。"},
    "error": {"en": "Error", "zh-CN": "错误"},
    "back": {"en": "Back", "zh-CN": "返回"},
    # sign-in
    "signin_title": {"en": "Sign in", "zh-CN": "登录"},
    "signin_intro": {"en": "Sign in with your API key. The key stays in this browser only as a secure cookie.",
                     "zh-CN": "请使用 API 密钥登录。密钥仅以安全 Cookie 的形式保存在本浏览器中。"},
    "api_key": {"en": "API key", "zh-CN": "API 密钥"},
    "signin_button": {"en": "Sign in", "zh-CN": "登录"},
    "signin_needed": {"en": "Please sign in to continue.", "zh-CN": "请先登录。"},
    "key_invalid": {"en": "This API key is unknown or no longer valid; sign in with a valid key.",
                    "zh-CN": "API 密钥无效或已失效，请使用有效密钥重新登录。"},
    "key_missing": {"en": "Enter an API key.", "zh-CN": "请输入 API 密钥。"},
    "signed_out": {"en": "You are signed out.", "zh-CN": "您已退出登录。"},
    "forbidden_park": {"en": "This API key is not valid for park {park}.",
                       "zh-CN": "此 API 密钥无权访问园区 {park}。"},
    # today
    "today_title": {"en": "Plan of the day", "zh-CN": "当日运行计划"},
    "plan": {"en": "Plan", "zh-CN": "计划"},
    "no_plan": {"en": "No plan for this day yet.", "zh-CN": "该日期尚无运行计划。"},
    "no_plan_hint": {"en": "Make one: the optimal plan and the TOU-arbitrage reference, for the savings.",
                     "zh-CN": "点击生成：最优计划及峰谷套利参考方案（用于计算节省）。"},
    "make_plan": {"en": "Make the plan", "zh-CN": "生成计划"},
    "replan": {"en": "Re-plan from the latest measurements", "zh-CN": "按最新量测重新优化"},
    "working": {"en": "Solving…", "zh-CN": "求解中…"},
    "kpi_cost": {"en": "Cost", "zh-CN": "总费用"},
    "kpi_savings": {"en": "Savings against {baseline}", "zh-CN": "较{baseline}节省"},
    "kpi_savings_none": {"en": "no {baseline} plan of this day", "zh-CN": "该日无{baseline}参考方案"},
    "kpi_self_consumption": {"en": "PV self-consumption", "zh-CN": "光伏自消纳率"},
    "kpi_green_share": {"en": "Green share", "zh-CN": "绿电占比"},
    "kpi_co2": {"en": "CO₂ of grid import", "zh-CN": "购电碳排放"},
    "kpi_peak_import": {"en": "Peak import", "zh-CN": "最大购电功率"},
    "kpi_solver": {"en": "Solver", "zh-CN": "求解器"},
    "mip_gap": {"en": "gap", "zh-CN": "间隙"},
    "solve_time": {"en": "solved in", "zh-CN": "求解用时"},
    "fallback": {"en": "Fallback", "zh-CN": "降级方案"},
    "status_optimal": {"en": "optimal", "zh-CN": "最优"},
    "status_time_limit": {"en": "time limit reached", "zh-CN": "达到时间上限"},
    "status_infeasible_relaxed": {"en": "infeasible, relaxed", "zh-CN": "不可行（已松弛）"},
    "status_not_optimized": {"en": "not optimized", "zh-CN": "未优化"},
    "kind_day_ahead": {"en": "day-ahead", "zh-CN": "日前"},
    "kind_intraday": {"en": "intraday", "zh-CN": "日内"},
    "kind_event": {"en": "demand response", "zh-CN": "需求响应"},
    "strategy_optimal": {"en": "optimal", "zh-CN": "优化调度"},
    "strategy_rule-based": {"en": "rule-based", "zh-CN": "规则控制"},
    "strategy_tou-arbitrage": {"en": "TOU arbitrage", "zh-CN": "峰谷套利"},
    "strategy_no-control": {"en": "no control", "zh-CN": "无控制"},
    "chart_balance": {"en": "Power balance", "zh-CN": "功率平衡"},
    "chart_pv": {"en": "PV available and used", "zh-CN": "光伏可发与实际利用"},
    "chart_storage": {"en": "Battery state of charge", "zh-CN": "储能电池电量"},
    "chart_thermal": {"en": "Thermal store content", "zh-CN": "蓄热罐储热量"},
    "chart_price": {"en": "Import price and TOU periods", "zh-CN": "购电电价与分时时段"},
    "axis_time": {"en": "time ({tz})", "zh-CN": "时间（{tz}）"},
    "axis_power_kw": {"en": "power [kW]", "zh-CN": "功率 [kW]"},
    "axis_energy_kwh": {"en": "stored energy [kWh]", "zh-CN": "储存电量 [kWh]"},
    "axis_heat_kwh": {"en": "stored heat [kWh th]", "zh-CN": "储热量 [kWh 热]"},
    "axis_price": {"en": "price [CNY/kWh]", "zh-CN": "电价 [元/kWh]"},
    "pv_used": {"en": "PV used", "zh-CN": "光伏利用"},
    "pv_available": {"en": "PV available", "zh-CN": "光伏可发"},
    "curtailment": {"en": "curtailed", "zh-CN": "弃光"},
    "grid_import": {"en": "grid import", "zh-CN": "电网购电"},
    "grid_export": {"en": "export", "zh-CN": "上网电量"},
    "battery_discharge": {"en": "battery discharge", "zh-CN": "电池放电"},
    "battery_charge": {"en": "battery charge", "zh-CN": "电池充电"},
    "load": {"en": "load", "zh-CN": "负荷"},
    "price_import": {"en": "import price", "zh-CN": "购电电价"},
    "tou_valley": {"en": "valley", "zh-CN": "谷"},
    "tou_flat": {"en": "flat", "zh-CN": "平"},
    "tou_peak": {"en": "peak", "zh-CN": "峰"},
    "tou_critical_peak": {"en": "critical peak", "zh-CN": "尖峰"},
    "dr_window": {"en": "demand-response window", "zh-CN": "需求响应时段"},
    "no_storage": {"en": "This park has no battery.", "zh-CN": "该园区无储能电池。"},
    "unit_of_pv": {"en": "of PV generation", "zh-CN": "占光伏发电量"},
    "unit_of_consumption": {"en": "of consumption", "zh-CN": "占用电量"},
    "plan_made": {"en": "made", "zh-CN": "生成于"},
    "plan_start": {"en": "from", "zh-CN": "起始"},
    # compare
    "compare_title": {"en": "Compare two plans", "zh-CN": "两个方案对比"},
    "plan_a": {"en": "Plan A", "zh-CN": "方案 A"},
    "plan_b": {"en": "Plan B", "zh-CN": "方案 B"},
    "compare_button": {"en": "Compare", "zh-CN": "对比"},
    "compare_need_two": {"en": "Compare needs two plans of this park. Make the day's plan on Today: it makes the "
                                "optimal plan and the TOU-arbitrage reference.",
                         "zh-CN": "对比需要该园区的两个方案。请在“今日计划”中生成计划"
                                  "（同时生成最优方案与峰谷套利参考方案）。"},
    "kpi": {"en": "Indicator", "zh-CN": "指标"},
    "strategy": {"en": "Strategy", "zh-CN": "策略"},
    "make_strategy_plan": {"en": "Plan with this strategy and compare", "zh-CN": "按此策略生成计划并对比"},
    "difference": {"en": "B − A", "zh-CN": "B − A"},
    "chart_import_both": {"en": "Grid import", "zh-CN": "电网购电功率"},
    "chart_import_diff": {"en": "Difference in grid import per step (B − A)", "zh-CN": "逐时段购电功率差（B − A）"},
    "no_common_steps": {"en": "The two plans share no time step.", "zh-CN": "两个方案没有重叠的时段。"},
    "kpi_energy_cost": {"en": "Energy cost", "zh-CN": "电量电费"},
    "kpi_demand_charge": {"en": "Demand charge", "zh-CN": "需量电费"},
    "kpi_grid_import_kwh": {"en": "Grid import", "zh-CN": "购电量"},
    "kpi_grid_export_kwh": {"en": "Export", "zh-CN": "上网电量"},
    "kpi_curtailment_kwh": {"en": "Curtailed PV", "zh-CN": "弃光电量"},
    # events
    "events_title": {"en": "Demand-response events", "zh-CN": "需求响应事件"},
    "no_events": {"en": "No event yet. Announce one with the New event form.",
                  "zh-CN": "暂无事件。请使用“新建事件”表单创建。"},
    "event_id": {"en": "Event", "zh-CN": "事件"},
    "event_state": {"en": "State", "zh-CN": "状态"},
    "event_window": {"en": "Window", "zh-CN": "时段"},
    "event_amount": {"en": "Request", "zh-CN": "要求"},
    "event_delivery": {"en": "Answer", "zh-CN": "响应结果"},
    "event_incentive": {"en": "Incentive", "zh-CN": "补贴"},
    "state_active": {"en": "active", "zh-CN": "生效"},
    "state_cancelled": {"en": "cancelled", "zh-CN": "已取消"},
    "delivery_full": {"en": "full", "zh-CN": "完全响应"},
    "delivery_partial": {"en": "partial", "zh-CN": "部分响应"},
    "delivery_none": {"en": "not possible", "zh-CN": "无法响应"},
    "new_event": {"en": "New event", "zh-CN": "新建事件"},
    "kind": {"en": "Kind", "zh-CN": "类型"},
    "kind_reduce": {"en": "reduce (peak shaving)", "zh-CN": "削峰（减少购电）"},
    "kind_increase": {"en": "increase (valley filling)", "zh-CN": "填谷（增加购电）"},
    "start_time": {"en": "Start", "zh-CN": "开始时间"},
    "end_time": {"en": "End", "zh-CN": "结束时间"},
    "amount_kind": {"en": "Amount", "zh-CN": "响应量类型"},
    "max_import_kw": {"en": "import at most [kW]", "zh-CN": "购电上限 [kW]"},
    "reduce_by_kw": {"en": "reduce by [kW]", "zh-CN": "削减 [kW]"},
    "increase_by_kw": {"en": "increase by [kW]", "zh-CN": "增加 [kW]"},
    "amount_kw": {"en": "Amount [kW]", "zh-CN": "功率 [kW]"},
    "incentive_cny_per_kwh": {"en": "Incentive [CNY/kWh]", "zh-CN": "补贴单价 [元/kWh]"},
    "notified_at": {"en": "Notified at", "zh-CN": "通知时间"},
    "event_id_field": {"en": "Event id (optional)", "zh-CN": "事件编号（可选）"},
    "send_event": {"en": "Send the event and re-plan", "zh-CN": "提交事件并重新优化"},
    "form_invalid": {"en": "The event was not sent; correct the fields marked.",
                     "zh-CN": "事件未提交，请修改标出的字段。"},
    "answer_title": {"en": "Answer to {event}", "zh-CN": "事件 {event} 的响应"},
    "baseline_import": {"en": "baseline import", "zh-CN": "基线购电"},
    "planned_import": {"en": "planned import", "zh-CN": "计划购电"},
    "requested": {"en": "requested", "zh-CN": "要求响应"},
    "response": {"en": "response", "zh-CN": "实际响应"},
    "requested_kwh": {"en": "Energy requested", "zh-CN": "要求响应电量"},
    "response_kwh": {"en": "Energy delivered", "zh-CN": "响应电量"},
    "delivered_share": {"en": "Delivered share", "zh-CN": "响应比例"},
    "event_baseline": {"en": "Baseline", "zh-CN": "基线负荷"},
    "event_baseline_optimal-plan": {"en": "the park's optimal plan without events",
                                    "zh-CN": "园区无事件时的最优计划"},
    "event_baseline_similar-days": {"en": "average of the similar days {days} ({day_type})",
                                    "zh-CN": "相似日 {days} 的平均负荷（{day_type}）"},
    "event_day_type_working": {"en": "working days", "zh-CN": "工作日"},
    "event_day_type_day off": {"en": "days off", "zh-CN": "休息日"},
    "event_adjustment_scaling": {"en": "scaled ×{factor} on the day ({basis})", "zh-CN": "当日调整 ×{factor}（{basis}）"},
    "event_adjustment_additive": {"en": "shifted {kw} kW on the day ({basis})",
                                  "zh-CN": "当日调整 {kw} kW（{basis}）"},
    "event_adjustment_unavailable": {"en": "no same-day adjustment: the hours before the event are neither "
                                           "metered nor planned",
                                     "zh-CN": "未做当日调整：事件前时段既无计量也无计划"},
    "event_basis_metered": {"en": "metered", "zh-CN": "计量值"},
    "event_basis_planned": {"en": "from the plan: not metered yet", "zh-CN": "尚未计量，取计划值"},
    "event_basis_metered and planned": {"en": "metered, the rest from the plan", "zh-CN": "计量值，其余取计划值"},
    "incentive_cny": {"en": "Incentive earned", "zh-CN": "获得补贴"},
    "cost_increase_cny": {"en": "Cost of the response", "zh-CN": "响应增加成本"},
    "cost_increase_note": {"en": "plan cost with the active events − without", "zh-CN": "含当前事件的计划成本 − 不含"},
    "net_benefit_cny": {"en": "Net benefit", "zh-CN": "净收益"},
    "cancel_event": {"en": "Cancel", "zh-CN": "取消"},
    "open": {"en": "Open", "zh-CN": "查看"},
    "field_value_missing": {"en": "enter a value", "zh-CN": "请填写"},
    "field_not_a_number": {"en": "enter a number", "zh-CN": "请输入数字"},
    "field_not_a_time": {"en": "enter a date and time", "zh-CN": "请输入日期和时间"},
    # network
    "network_title": {"en": "Internal network", "zh-CN": "园区配电网"},
    "no_network": {"en": "This park has no network description; the network view needs its buses, lines and "
                          "transformers.", "zh-CN": "该园区未描述配电网（母线、线路、变压器），无法显示配电网视图。"},
    "network_no_plan": {"en": "No plan to check. Make the day's plan on Today first.",
                        "zh-CN": "暂无可校核的计划，请先在“今日计划”中生成计划。"},
    "chart_trafo": {"en": "Most loaded transformer", "zh-CN": "负载率最高的变压器"},
    "chart_line": {"en": "Most loaded line", "zh-CN": "负载率最高的线路"},
    "chart_voltage": {"en": "Voltage band", "zh-CN": "电压范围"},
    "axis_loading_pct": {"en": "loading [%]", "zh-CN": "负载率 [%]"},
    "axis_voltage_pu": {"en": "voltage [p.u.]", "zh-CN": "电压 [p.u.]"},
    "limit": {"en": "limit", "zh-CN": "限值"},
    "vm_min": {"en": "lowest bus voltage", "zh-CN": "最低母线电压"},
    "vm_max": {"en": "highest bus voltage", "zh-CN": "最高母线电压"},
    "violation": {"en": "violation", "zh-CN": "越限"},
    "violations": {"en": "Violations", "zh-CN": "越限"},
    "violation_unit": {"en": "element-steps beyond a limit", "zh-CN": "越限元件·时段数"},
    "no_violations": {"en": "No limit is violated in the AC power flow of this plan.",
                      "zh-CN": "该计划的交流潮流校核无越限。"},
    "element": {"en": "Element", "zh-CN": "元件"},
    "quantity": {"en": "Quantity", "zh-CN": "量"},
    "value": {"en": "Value", "zh-CN": "数值"},
    "time": {"en": "Time", "zh-CN": "时间"},
    "network_losses": {"en": "Network losses", "zh-CN": "网损电量"},
    "max_trafo_loading": {"en": "Highest transformer loading", "zh-CN": "变压器最高负载率"},
    "max_line_loading": {"en": "Highest line loading", "zh-CN": "线路最高负载率"},
    "voltage_range": {"en": "Voltage range", "zh-CN": "电压范围"},
    "engine": {"en": "AC power flow", "zh-CN": "交流潮流"},
    # studies
    "studies_title": {"en": "Studies and sweeps", "zh-CN": "仿真研究与参数扫描"},
    "no_studies": {"en": "No study yet. Start one with the New study form: a period operated day by day with "
                          "re-planning, for each strategy.",
                   "zh-CN": "暂无仿真研究。请使用“新建研究”表单：按天滚动优化运行一段时间，对比各策略。"},
    "new_study": {"en": "New study", "zh-CN": "新建研究"},
    "study_kind_study": {"en": "case study", "zh-CN": "案例研究"},
    "study_kind_sweep": {"en": "sweep", "zh-CN": "参数扫描"},
    "study_id": {"en": "Study", "zh-CN": "研究"},
    "period": {"en": "Period", "zh-CN": "时段"},
    "first_day": {"en": "First day", "zh-CN": "起始日"},
    "last_day": {"en": "Last day (included)", "zh-CN": "结束日（含）"},
    "strategies": {"en": "Strategies", "zh-CN": "策略"},
    "strategy_mpc": {"en": "MPC (forecast errors)", "zh-CN": "模型预测控制（含预测误差）"},
    "strategy_perfect-foresight": {"en": "perfect foresight", "zh-CN": "完美预测"},
    "replan_h": {"en": "Re-plan every [h]", "zh-CN": "滚动间隔 [h]"},
    "axis_parameter": {"en": "Sweep parameter (dotted path)", "zh-CN": "扫描参数（点分路径）"},
    "axis_values": {"en": "Its values (comma-separated)", "zh-CN": "取值（逗号分隔）"},
    "start_study": {"en": "Start", "zh-CN": "开始"},
    "progress": {"en": "Progress", "zh-CN": "进度"},
    "study_state_queued": {"en": "queued", "zh-CN": "排队中"},
    "study_state_running": {"en": "running", "zh-CN": "运行中"},
    "study_state_done": {"en": "done", "zh-CN": "已完成"},
    "study_state_failed": {"en": "failed", "zh-CN": "失败"},
    "study_state_cancelled": {"en": "cancelled", "zh-CN": "已取消"},
    "open_report": {"en": "Open the report", "zh-CN": "打开报告"},
    "study_results": {"en": "Results of study {study}", "zh-CN": "研究 {study} 的结果"},
    "form_invalid_study": {"en": "The study was not started; correct the fields marked.",
                           "zh-CN": "研究未启动，请修改标出的字段。"},
    "field_choose_one": {"en": "choose at least one", "zh-CN": "请至少选择一项"},
    "refreshing": {"en": "This page refreshes every {s} s while a study runs.",
                   "zh-CN": "有研究运行时，本页每 {s} 秒刷新一次。"},
    # live notices (the park's stream)
    "live_plan_created": {"en": "New plan #{id} for {date}.", "zh-CN": "已生成新计划 #{id}（{date}）。"},
    "live_alert_opened": {"en": "New alert.", "zh-CN": "出现新告警。"},
    "live_alert_acknowledged": {"en": "An alert was acknowledged.", "zh-CN": "有告警已被确认。"},
    "live_alert_resolved": {"en": "An alert was resolved.", "zh-CN": "有告警已解除。"},
    "live_reload": {"en": "Reload to see it", "zh-CN": "刷新页面查看"},
    "live_dismiss": {"en": "Dismiss", "zh-CN": "关闭"},
}
"""Key → language → label; labels may hold ``{name}`` fields filled by :func:`translate`."""


def translate(key: str, lang: str, **fields) -> str:
    """The label ``key`` in ``lang``, its ``{name}`` fields filled from ``fields``.

    Raises
    ------
    KeyError
        ``key`` is not in :data:`CATALOGUE` (a programming error, caught by the tests).
    """
    text = CATALOGUE[key][lang]
    return text.format(**fields) if fields else text


def translator(lang: str) -> Callable[..., str]:
    """``translate`` bound to ``lang``, for the templates (``t("key")``)."""
    return lambda key, **fields: translate(key, lang, **fields)


def negotiate(accept_language: str | None) -> str:
    """The language of :data:`LANGUAGES` that an ``Accept-Language`` header prefers; English by default.

    Any ``zh`` tag but the traditional ones (``zh-TW``, ``zh-HK``, ``zh-Hant``) counts as
    Simplified Chinese; ``en-*`` as English; the highest quality wins, the first on a tie.

    Examples
    --------
    >>> negotiate("zh-CN,zh;q=0.9,en;q=0.8")
    'zh-CN'
    >>> negotiate("de-DE,de;q=0.9,en;q=0.5,zh;q=0.4")
    'en'
    >>> negotiate("fr")
    'en'
    """
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag.startswith("zh") and not any(tag.startswith(t) for t in ("zh-tw", "zh-hk", "zh-mo", "zh-hant")):
            lang = "zh-CN"
        elif tag == "en" or tag.startswith("en-"):
            lang = "en"
        else:
            continue
        if q > best_q and q > 0:
            best, best_q = lang, q
    return best


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the switch's cookie if it names one of :data:`LANGUAGES`, else the header's."""
    return cookie if cookie in LANGUAGES else negotiate(accept_language)
