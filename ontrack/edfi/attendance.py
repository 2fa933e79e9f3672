"""Instructional calendars and daily attendance (CONTRACT §1 ``attendance``).

Ed-Fi records attendance as *events* (an absence, a tardy) on top of a calendar; the
contract wants one row per enrolled instructional day. So the importer first builds
``edfi_days`` (school, school year, date) and then writes, for every accepted
enrollment, each of its instructional days: ``present`` unless an accepted event says
otherwise.

Instructional days, per school and school year:

1. ``CalendarDate`` rows when the export has any for that school-year; if
   ``CalendarDateCalendarEvent`` has events for it, only dates with an event the
   mapping calls instructional (``CalendarEventDescriptor``: true).
2. Otherwise the weekdays (``calendar.weekdays``) inside the school's ``GradingPeriod``
   date ranges, or its ``Session`` ranges when it has no grading periods. The export
   does not say which weekdays are holidays, so this counts every weekday; a note
   compares the count with ``TotalInstructionalDays``.

Dates listed in ``calendar.non_instructional_dates`` are removed in both cases. Every
attendance event becomes a day's status or a counted rejection.
"""

from __future__ import annotations

import pyarrow as pa

from ontrack.edfi.context import ImportContext

SOURCE = "StudentSchoolAttendanceEvent"
PRECEDENCE = ("suspended", "absent_unexcused", "absent_excused", "tardy", "present")
EVENT_COLUMNS = [
    "StudentUSI",
    "SchoolId",
    "SchoolYear",
    "EventDate",
    "AttendanceEventCategoryDescriptorId",
    "EventDuration",
    "SchoolAttendanceDuration",
]


def build_calendar(ctx: ImportContext) -> None:
    """Create ``edfi_days`` (school_id, school_year, date, origin) and note how."""
    ctx.say("deriving instructional days")
    _register_offdays(ctx)
    cal = ctx.rel("CalendarDate", ["CalendarCode", "SchoolId", "SchoolYear", "Date"])
    events = ctx.rel(
        "CalendarDateCalendarEvent",
        ["CalendarCode", "SchoolId", "SchoolYear", "Date", "CalendarEventDescriptorId"],
    )
    ctx.use(
        "CalendarEventDescriptor",
        "CalendarDateCalendarEvent",
        "CalendarEventDescriptorId",
        "date not counted as instructional",
    )
    kind = ctx.dj("CalendarEventDescriptor", "e.CalendarEventDescriptorId", "d")
    weekdays = ", ".join(str(d) for d in ctx.mapping.weekdays)
    ctx.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edfi_days AS
        WITH cal AS (
            SELECT SchoolId AS school_id, edfi_int(SchoolYear) AS school_year,
                   edfi_date(Date) AS date, CalendarCode AS code
            FROM {cal} WHERE edfi_date(Date) IS NOT NULL),
        ev AS (
            SELECT e.SchoolId AS school_id, edfi_int(e.SchoolYear) AS school_year,
                   edfi_date(e.Date) AS date, coalesce(d.target = 'true', false) AS ok
            FROM {events} e {kind}),
        from_calendar AS (
            SELECT c.school_id, c.school_year, c.date, 'CalendarDate' AS origin
            FROM cal c
            WHERE NOT EXISTS (SELECT 1 FROM ev WHERE ev.school_id = c.school_id
                                AND ev.school_year = c.school_year)
               OR EXISTS (SELECT 1 FROM ev WHERE ev.school_id = c.school_id
                            AND ev.date = c.date AND ev.ok)),
        derived AS (
            SELECT r.school_id, r.school_year,
                   CAST(unnest(generate_series(r.begin_date, r.end_date,
                                               INTERVAL 1 DAY)) AS DATE) AS date,
                   r.origin
            FROM ({_derived_ranges_sql(ctx)}) r
            WHERE NOT EXISTS (SELECT 1 FROM cal WHERE cal.school_id = r.school_id
                                AND cal.school_year = r.school_year)),
        all_days AS (
            SELECT * FROM from_calendar
            UNION ALL
            SELECT * FROM derived WHERE isodow(date) IN ({weekdays}))
        SELECT school_id, max(school_year) AS school_year, date, min(origin) AS origin
        FROM all_days a
        WHERE school_id IS NOT NULL AND school_year IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM edfi_offdays o WHERE o.date = a.date
                            AND o.school_id IN ('all', a.school_id))
        GROUP BY school_id, date
    """)
    _note_calendar(ctx)


def _register_offdays(ctx: ImportContext) -> None:
    """Load calendar.non_instructional_dates into ``edfi_offdays`` (school_id, date)."""
    pairs = [
        (school, day)
        for school, days in ctx.mapping.non_instructional_dates.items()
        for day in sorted(days)
    ]
    table = pa.table({
        "school_id": pa.array([p[0] for p in pairs], pa.string()),
        "date": pa.array([p[1] for p in pairs], pa.date32()),
    })
    ctx.con.register("edfi_offdays_arrow", table)
    ctx.con.execute(
        "CREATE OR REPLACE TEMP TABLE edfi_offdays AS SELECT * FROM edfi_offdays_arrow"
    )
    ctx.con.unregister("edfi_offdays_arrow")


def _derived_ranges_sql(ctx: ImportContext) -> str:
    """Date ranges to fill with weekdays: grading periods, else sessions."""
    columns = ["SchoolId", "SchoolYear", "BeginDate", "EndDate"]
    gp = ctx.rel("GradingPeriod", columns)
    sess = ctx.rel("Session", columns)
    fields = """SchoolId AS school_id, edfi_int(SchoolYear) AS school_year,
                edfi_date(BeginDate) AS begin_date, edfi_date(EndDate) AS end_date"""
    return f"""
        WITH g AS (SELECT {fields}, 'GradingPeriod weekdays' AS origin FROM {gp}),
             s AS (SELECT {fields}, 'Session weekdays' AS origin FROM {sess})
        SELECT * FROM g WHERE begin_date <= end_date
        UNION ALL
        SELECT * FROM s WHERE begin_date <= end_date AND NOT EXISTS (
            SELECT 1 FROM g
            WHERE g.school_id = s.school_id AND g.school_year = s.school_year)
    """


def _note_calendar(ctx: ImportContext) -> None:
    """One note per distinct derivation: origin, day count, and the reported totals."""
    columns = ["SchoolId", "SchoolYear", "TotalInstructionalDays"]
    sess = ctx.rel("Session", columns)
    gp = ctx.rel("GradingPeriod", columns)
    totals = """SELECT SchoolId AS school_id, edfi_int(SchoolYear) AS school_year,
                       sum(edfi_int(TotalInstructionalDays)) AS total"""
    rows = ctx.fetch(f"""
        WITH d AS (SELECT school_id, school_year, min(origin) AS origin,
                          count(*) AS days
                   FROM edfi_days GROUP BY ALL),
             s AS ({totals} FROM {sess} GROUP BY ALL),
             g AS ({totals} FROM {gp} GROUP BY ALL)
        SELECT d.school_year, d.origin, d.days, s.total, g.total,
               string_agg(d.school_id, ', ' ORDER BY d.school_id)
        FROM d
        LEFT JOIN s USING (school_id, school_year)
        LEFT JOIN g USING (school_id, school_year)
        GROUP BY ALL ORDER BY 1, 6
    """)
    for year, origin, days, session_total, period_total, schools in rows:
        text = f"Instructional days {year}, schools {schools}: {days} from {origin}"
        if origin != "CalendarDate":
            text += " (CalendarDate is empty; every weekday in the range counts)"
            reported = []
            if session_total:
                reported.append(f"Session.TotalInstructionalDays = {session_total}")
            if period_total:
                reported.append(
                    f"GradingPeriod.TotalInstructionalDays = {period_total}"
                )
            if reported and days not in (session_total, period_total):
                text += (
                    f"; the export reports {' and '.join(reported)}, so holidays are "
                    "counted as enrolled days unless listed in "
                    "calendar.non_instructional_dates"
                )
        ctx.log.note(text + ".")


def write_attendance(ctx: ImportContext) -> None:
    """Classify every event, then write one row per enrolled instructional day."""
    ctx.say("classifying attendance events")
    _stage_spans(ctx)
    _classify_events(ctx)
    ctx.reasons(
        "attendance",
        SOURCE,
        "SELECT reason, count(*) FROM edfi_events WHERE reason IS NOT NULL GROUP BY 1",
    )
    # Spans never overlap, so no DISTINCT is needed; sorting on the integer span id and
    # the date keeps the file ordered (school, student, date) at a fraction of the cost
    # of sorting the text columns.
    ctx.write("attendance", """
        SELECT n.student_id, d.school_id, d.date,
               coalesce(ev.status, 'present') AS status, ev.minutes_absent
        FROM edfi_spans n
        JOIN edfi_days d ON d.school_id = n.school_id AND d.school_year = n.school_year
             AND d.date BETWEEN n.entry_date AND n.last_day
        LEFT JOIN edfi_events ev ON ev.reason IS NULL AND ev.student_id = n.student_id
             AND ev.school_id = d.school_id AND ev.date = d.date
        ORDER BY n.span_id, d.date
    """)
    _note_attendance(ctx)


def _stage_spans(ctx: ImportContext) -> None:
    """Create ``edfi_spans``: each student's enrolled days at a school and year, merged.

    Two accepted enrollments of one student at one school may overlap (a re-entry
    recorded without an exit); merging them into islands gives each enrolled day once.
    ``span_id`` orders spans by school, student and entry date.
    """
    ctx.con.execute("""
        CREATE OR REPLACE TEMP TABLE edfi_spans AS
        WITH s AS (
            SELECT student_id, school_id, school_year, entry_date AS b,
                   coalesce(last_day, DATE '9999-12-31') AS e
            FROM edfi_enr_ok),
        marked AS (
            SELECT *, max(e) OVER (PARTITION BY student_id, school_id, school_year
                                   ORDER BY b, e ROWS BETWEEN UNBOUNDED PRECEDING
                                   AND 1 PRECEDING) AS reach
            FROM s),
        grouped AS (
            SELECT *, sum(CASE WHEN reach IS NULL OR b > reach THEN 1 ELSE 0 END)
                      OVER (PARTITION BY student_id, school_id, school_year
                            ORDER BY b, e) AS island
            FROM marked)
        SELECT row_number() OVER (ORDER BY school_id, TRY_CAST(student_id AS BIGINT),
                                  student_id, min(b)) AS span_id,
               student_id, school_id, school_year,
               min(b) AS entry_date, max(e) AS last_day
        FROM grouped GROUP BY student_id, school_id, school_year, island
    """)


def _classify_events(ctx: ImportContext) -> None:
    """Create ``edfi_events``: each source event with its status or rejection reason."""
    ev = ctx.rel(SOURCE, EVENT_COLUMNS)
    descriptor = "AttendanceEventCategoryDescriptor"
    ctx.use(descriptor, SOURCE, f"{descriptor}Id", "event rejected")
    category = ctx.dj(descriptor, f"e.{descriptor}Id", "c")
    event_year = ctx.year_filter("coalesce(day_year, ev_year, edfi_year_of(date))")
    rank = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(PRECEDENCE))
    ctx.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edfi_events AS
        WITH ev AS (
            SELECT e.StudentUSI AS student_id, e.SchoolId AS school_id,
                   edfi_date(e.EventDate) AS date, edfi_int(e.SchoolYear) AS ev_year,
                   c.status AS c_status, c.target AS status,
                   edfi_num(e.EventDuration) AS duration,
                   CASE WHEN c.target = 'tardy'
                        THEN edfi_num(e.SchoolAttendanceDuration) END AS minutes_absent
            FROM {ev} e {category}),
        checked AS (
            SELECT ev.*, d.school_year AS day_year,
                EXISTS (SELECT 1 FROM edfi_enr_ok n
                        WHERE n.student_id = ev.student_id
                          AND n.school_id = ev.school_id) AS at_school,
                EXISTS (SELECT 1 FROM edfi_spans n
                        WHERE n.student_id = ev.student_id
                          AND n.school_id = ev.school_id
                          AND n.school_year = d.school_year
                          AND ev.date BETWEEN n.entry_date AND n.last_day) AS in_span
            FROM ev
            LEFT JOIN edfi_days d ON d.school_id = ev.school_id AND d.date = ev.date),
        reasoned AS (
            SELECT *, CASE
                WHEN date IS NULL THEN 'invalid or missing EventDate'
                WHEN NOT {event_year} THEN 'outside --school-year'
                WHEN c_status = 'ignored'
                    THEN 'attendance category ignored by the mapping'
                WHEN status IS NULL THEN 'attendance category not in the mapping'
                WHEN NOT at_school
                    THEN 'no accepted enrollment of the student at the school'
                WHEN day_year IS NULL THEN 'not an instructional day'
                WHEN NOT in_span THEN 'outside the enrollment dates'
            END AS pre_reason
            FROM checked)
        SELECT student_id, school_id, date, status, minutes_absent, duration,
            CASE WHEN pre_reason IS NOT NULL THEN pre_reason
                 WHEN row_number() OVER (
                     PARTITION BY student_id, school_id, date, pre_reason IS NULL
                     ORDER BY CASE status {rank} END,
                              minutes_absent DESC NULLS LAST) > 1
                 THEN 'another event the same day took precedence'
            END AS reason
        FROM reasoned
    """)


def _note_attendance(ctx: ImportContext) -> None:
    """Notes on part-day absences and on section events the contract cannot use."""
    part = ctx.fetch(
        "SELECT count(*) FROM edfi_events WHERE reason IS NULL "
        "AND status LIKE 'absent%' AND duration < 1"
    )[0][0]
    if part:
        ctx.log.note(
            f"attendance: {part:,} absences have EventDuration < 1 (part of a day); "
            "the contract has no part-day absence, so they are written as absent days."
        )
    days = ctx.fetch("SELECT count(*) FROM edfi_events WHERE reason IS NULL")[0][0]
    ctx.log.note(f"attendance: {days:,} attendance events became the status of a day.")
    if ctx.src.has("StudentSectionAttendanceEvent"):
        n = ctx.src.row_count("StudentSectionAttendanceEvent")
        ctx.log.note(
            f"attendance: StudentSectionAttendanceEvent ({n:,} rows) is not used: the "
            "contract's attendance is daily, and a missed class is not a missed day."
        )
