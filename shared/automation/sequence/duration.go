package sequence

import (
	"encoding/json"
	"strings"
	"time"
)

const durationHint = "must be an ISO 8601 duration in days, hours, minutes or seconds, such as P2D, PT12H or P1DT30M."

// duration reads the ISO 8601 duration at path and holds it to [MinWait, MaxWait].
func duration(raw json.RawMessage, path string) (time.Duration, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0, invalid(path, durationHint)
	}
	d, problem := parseDuration(s)
	switch {
	case problem != "":
		return 0, invalid(path, "%s", problem)
	case d < MinWait:
		return 0, invalid(path, "must be at least 1 minute (PT1M).")
	case d > MaxWait:
		return 0, invalid(path, "must be at most 365 days (P365D).")
	}
	return d, nil
}

// parseDuration reads P[nD][T[nH][nM][nS]] (P2D, PT12H, PT90M, P1DT2H30M),
// each unit at most once and in that order, with whole numbers of at most
// 6 digits. Years, months and weeks are refused. problem is the end of a
// sentence saying what is wrong ("" when s is fine).
func parseDuration(s string) (d time.Duration, problem string) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" || len(s) > 32 {
		return 0, durationHint
	}
	var secs int64
	units := "D" // the designators still allowed, in order
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, durationHint
			}
			inTime, units, rest = true, "HMS", rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 6 || i == len(rest) {
			return 0, durationHint
		}
		unit := rest[i]
		if !inTime && (unit == 'Y' || unit == 'M' || unit == 'W') {
			return 0, "cannot be in years, months or weeks: give days instead, such as P7D or P30D."
		}
		u := strings.IndexByte(units, unit)
		if u < 0 {
			return 0, durationHint
		}
		units = units[u+1:]
		var n int64
		for _, c := range rest[:i] {
			n = n*10 + int64(c-'0')
		}
		switch unit {
		case 'D':
			secs += n * 24 * 3600
		case 'H':
			secs += n * 3600
		case 'M':
			secs += n * 60
		case 'S':
			secs += n
		}
		rest = rest[i+1:]
	}
	if limit := int64(MaxWait / time.Second); secs > limit {
		secs = limit + 1 // over the limit, said as such by the caller (and no overflow)
	}
	return time.Duration(secs) * time.Second, ""
}
