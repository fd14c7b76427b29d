package main

import (
	"regexp"
	"strings"
	"time"
)

// The patterns ai_parse_task recognises. Each is removed from the text once
// read, and what remains is the title.
var (
	parseTagRE      = regexp.MustCompile(`(?:^|\s)#([\p{L}\p{N}_-]+)`)
	parseAssigneeRE = regexp.MustCompile(`(?:^|\s)@([\p{L}\p{N}_.-]*[\p{L}\p{N}_])`)
	parsePriorityRE = regexp.MustCompile(`(?i)\bpriority\s*:\s*(low|medium|high|critical|urgent)\b|\b(p[1-3])\b|\b(urgent|critical)\b`)
	parseStatusRE   = regexp.MustCompile(`(?i)\bstatus\s*:\s*(todo|to do|doing|in progress|in_progress|review|done|blocked)\b`)
	// parseDueRE finds a due date: an ISO date, today, tomorrow or a
	// weekday, optionally after "by", "due", "on", "before" or "until"
	// (which go with it).
	parseDueRE = regexp.MustCompile(`(?i)(?:\b(?:due(?:\s+(?:by|on))?|by|on|before|until)\s+)?\b(\d{4}-\d{2}-\d{2}|today|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b`)
)

// parsePriorities and parseStatuses map the words the parser recognises
// to the tools' priority and status values.
var (
	parsePriorities = map[string]string{
		"low": "low", "medium": "medium", "high": "high", "critical": "critical",
		"urgent": "critical", "p1": "high", "p2": "medium", "p3": "low",
	}
	parseStatuses = map[string]string{
		"todo": "new", "to do": "new", "doing": "in_progress", "in progress": "in_progress",
		"in_progress": "in_progress", "review": "pending", "done": "completed", "blocked": "blocked",
	}
)

// parseWeekdays maps the weekday names parseDueRE knows.
var parseWeekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// parseTaskText parses free text into task fields for ai_parse_task:
//   - "#tag" adds a tag;
//   - "@name" sets the assignee (the first one; an e-mail address is not a
//     name, as the @ must start a word);
//   - "priority: high", "p1".."p3", "urgent" or "critical" set the priority;
//   - "status: todo/doing/in progress/review/done/blocked" sets the status;
//   - a due date (an ISO date, "today", "tomorrow" or a weekday, which is
//     the next such day from now, today included, optionally after "by",
//     "due", "on", "before" or "until") sets due_date to the end of that
//     day in UTC, as the RFC 3339 date-time the task tools take;
//   - the rest is the title.
//
// confidence starts at 0.5 and grows by 0.15 for each field recognised, up
// to 0.95; an empty title lowers it to 0.2.
func parseTaskText(input string, now time.Time) map[string]any {
	out := map[string]any{}
	found := 0
	text := input

	var tags []any
	for _, m := range parseTagRE.FindAllStringSubmatch(text, -1) {
		tags = append(tags, strings.ToLower(m[1]))
	}
	if len(tags) > 0 {
		out["tags"] = tags
		found++
		text = parseTagRE.ReplaceAllString(text, " ")
	}
	if m := parseAssigneeRE.FindStringSubmatch(text); m != nil {
		out["assignee"] = m[1]
		found++
		text = strings.Replace(text, m[0], " ", 1)
	}
	if m := parsePriorityRE.FindStringSubmatch(text); m != nil {
		word := strings.ToLower(m[1] + m[2] + m[3])
		out["priority"] = parsePriorities[word]
		found++
		text = strings.Replace(text, m[0], " ", 1)
	}
	if m := parseStatusRE.FindStringSubmatch(text); m != nil {
		out["status"] = parseStatuses[strings.ToLower(m[1])]
		found++
		text = strings.Replace(text, m[0], " ", 1)
	}
	for _, m := range parseDueRE.FindAllStringSubmatch(text, -1) {
		if day, ok := parseDueDay(m[1], now); ok {
			out["due_date"] = day.Add(24*time.Hour - time.Second).Format(time.RFC3339)
			found++
			text = strings.Replace(text, m[0], " ", 1)
			break
		}
	}
	title := strings.Trim(strings.Join(strings.Fields(text), " "), " -,;:")
	out["title"] = title
	confidence := min(0.5+0.15*float64(found), 0.95)
	if title == "" {
		confidence = 0.2
	}
	out["confidence"] = confidence
	return out
}

// parseDueDay returns the start (00:00 UTC) of the day word names, seen
// from now: an ISO date, today, tomorrow, or the next such weekday (today
// included). It reports false for an ISO-shaped word that is not a date,
// such as 2026-13-45.
func parseDueDay(word string, now time.Time) (time.Time, bool) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch w := strings.ToLower(word); w {
	case "today":
		return today, true
	case "tomorrow":
		return today.AddDate(0, 0, 1), true
	default:
		if wd, ok := parseWeekdays[w]; ok {
			return today.AddDate(0, 0, (int(wd)-int(today.Weekday())+7)%7), true
		}
		d, err := time.Parse(time.DateOnly, word)
		return d, err == nil
	}
}
