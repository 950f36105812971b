package config

import (
	"fmt"
	"strconv"
	"strings"
)

// This file checks the reconcile's schedule: an EventBridge Scheduler
// expression, as CreateSchedule takes it, or "off".
//
// Rate expressions: rate(value unit), value a positive whole number, unit
// minute | minutes | hour | hours | day | days; like EventBridge rules,
// a value of 1 takes the singular unit and any other the plural.
// Cron expressions: cron(minutes hours day-of-month month day-of-week
// year), six fields, exactly one of day-of-month and day-of-week "?".
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html

// scheduleHelp is what a valid schedule looks like, for messages.
const scheduleHelp = `want rate(N minutes|hours|days) (e.g. rate(1 day), rate(6 hours)), ` +
	`cron(minutes hours day-of-month month day-of-week year) in UTC (e.g. cron(0 3 * * ? *), 03:00 every day), or off`

// checkSchedule returns what is wrong with an EventBridge Scheduler
// expression, or "".
func checkSchedule(s string) string {
	switch {
	case s == ScheduleOff:
		return ""
	case strings.EqualFold(s, ScheduleOff) || s == "none" || s == "disabled":
		return fmt.Sprintf("%q is not a schedule; to run the reconcile only by hand, write off (lowercase)", s)
	case strings.HasPrefix(s, "rate(") && strings.HasSuffix(s, ")"):
		return checkRate(s, strings.TrimSuffix(strings.TrimPrefix(s, "rate("), ")"))
	case strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")"):
		return checkCron(s, strings.TrimSuffix(strings.TrimPrefix(s, "cron("), ")"))
	case strings.HasPrefix(s, "at("):
		return fmt.Sprintf("%q is a one-time schedule; the reconcile recurs, so %s", s, scheduleHelp)
	case len(strings.Fields(s)) == 5 || len(strings.Fields(s)) == 6:
		return fmt.Sprintf("%q looks like a bare cron expression; write it inside cron(...), with six fields and ? for day-of-month or day-of-week (e.g. cron(0 3 * * ? *))", s)
	}
	return fmt.Sprintf("%q is not a schedule expression; %s", s, scheduleHelp)
}

var rateUnits = map[string]string{"minute": "minutes", "hour": "hours", "day": "days"}

func checkRate(s, body string) string {
	f := strings.Split(body, " ")
	if len(f) != 2 {
		return fmt.Sprintf("%q: want rate(VALUE UNIT), one space between, e.g. rate(1 day) or rate(12 hours)", s)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 || strings.TrimLeft(f[0], "0123456789") != "" {
		return fmt.Sprintf("%q: the value %q is not a positive whole number; want e.g. rate(1 day) or rate(12 hours)", s, f[0])
	}
	unit := f[1]
	if plural, ok := rateUnits[unit]; ok {
		if n != 1 {
			return fmt.Sprintf("%q: a value other than 1 takes the plural unit: rate(%d %s)", s, n, plural)
		}
		return ""
	}
	for singular, plural := range rateUnits {
		if unit == plural {
			if n == 1 {
				return fmt.Sprintf("%q: a value of 1 takes the singular unit: rate(1 %s)", s, singular)
			}
			return ""
		}
	}
	return fmt.Sprintf("%q: the unit %q is not one of minute, minutes, hour, hours, day, days", s, unit)
}

// cronField describes one field of a cron expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names of the values from min on (JAN.., SUN..)
	extra    string   // wildcards beyond , - * / that the field takes
}

var cronFields = []cronField{
	{name: "minutes", min: 0, max: 59},
	{name: "hours", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31, extra: "?LW"},
	{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", min: 1, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, extra: "?L#"},
	{name: "year", min: 1970, max: 2199},
}

func checkCron(s, body string) string {
	f := strings.Fields(body)
	if len(f) != len(cronFields) {
		hint := ""
		if len(f) == 5 {
			hint = " (a Unix crontab has five; add the year, usually *, and write ? for day-of-month or day-of-week: cron(0 3 * * ? *))"
		}
		return fmt.Sprintf("%q has %d fields; want 6: minutes hours day-of-month month day-of-week year%s", s, len(f), hint)
	}
	for i, fd := range cronFields {
		if msg := fd.check(f[i]); msg != "" {
			return fmt.Sprintf("%q: %s %q %s", s, fd.name, f[i], msg)
		}
	}
	if dom, dow := f[2], f[4]; (dom == "?") == (dow == "?") {
		return fmt.Sprintf("%q: exactly one of day-of-month (%s) and day-of-week (%s) must be ?, e.g. cron(0 3 * * ? *) every day or cron(0 3 ? * MON-FRI *) on weekdays", s, dom, dow)
	}
	return ""
}

// check returns what is wrong with one field, or "".
func (fd cronField) check(field string) string {
	if field == "?" {
		if strings.Contains(fd.extra, "?") {
			return ""
		}
		return "cannot be ?; only day-of-month and day-of-week can"
	}
	for _, item := range strings.Split(field, ",") {
		if msg := fd.item(item); msg != "" {
			if item != field && item != "" {
				return fmt.Sprintf("has the item %q, which %s", item, msg)
			}
			return msg
		}
	}
	return ""
}

func (fd cronField) item(item string) string {
	values := fmt.Sprintf("%d-%d", fd.min, fd.max)
	if fd.names != nil {
		values += fmt.Sprintf(" or %s-%s", fd.names[0], fd.names[len(fd.names)-1])
	}
	want := fmt.Sprintf("is not valid there; want *, a value %s, a range A-B, a list A,B or a step */N or A/N", values)
	if item == "" {
		return "has an empty item in its list; want A,B"
	}
	if strings.Contains(fd.extra, "L") {
		switch {
		case item == "L":
			return ""
		case fd.name == "day-of-month" && item == "LW":
			return ""
		case fd.name == "day-of-month" && strings.HasSuffix(item, "W"):
			if _, ok := fd.value(strings.TrimSuffix(item, "W")); ok {
				return ""
			}
			return "has W after something other than a day 1-31; want e.g. 15W, the weekday nearest the 15th"
		case fd.name == "day-of-week" && strings.HasSuffix(item, "L"):
			if _, ok := fd.value(strings.TrimSuffix(item, "L")); ok {
				return ""
			}
			return "has L after something other than a day 1-7 or SUN-SAT; want e.g. 6L, the last Friday"
		}
	}
	if strings.Contains(fd.extra, "#") {
		if d, n, ok := strings.Cut(item, "#"); ok {
			k, err := strconv.Atoi(n)
			if _, okd := fd.value(d); !okd || err != nil || k < 1 || k > 5 {
				return "has # other than DAY#N with a day 1-7 or SUN-SAT and N 1-5; want e.g. 2#1, the first Monday"
			}
			return ""
		}
	}
	base, step, stepped := strings.Cut(item, "/")
	if stepped {
		if n, err := strconv.Atoi(step); err != nil || n < 1 || n > fd.max {
			return fmt.Sprintf("has the step %q; want a whole number 1-%d after /", step, fd.max)
		}
	}
	if base == "*" {
		return ""
	}
	lo, hi, ranged := strings.Cut(base, "-")
	a, ok := fd.value(lo)
	if !ok {
		return want
	}
	if ranged {
		b, ok := fd.value(hi)
		if !ok {
			return want
		}
		if b < a {
			return fmt.Sprintf("has the range %s, which ends before it starts; want e.g. MON-FRI", base)
		}
	}
	return ""
}

// value reads a number in the field's range or one of its names.
func (fd cronField) value(s string) (int, bool) {
	for i, n := range fd.names {
		if strings.EqualFold(s, n) {
			return fd.min + i, true
		}
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < fd.min || v > fd.max {
		return 0, false
	}
	return v, true
}
