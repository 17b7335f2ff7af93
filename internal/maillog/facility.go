package maillog

import (
	"fmt"
	"strings"
)

// facilities maps syslog_facility names to the facility numbers of
// <syslog.h> (the number, not the number shifted left by 3).
var facilities = map[string]int{
	"kern":     0,
	"user":     1,
	"mail":     2,
	"daemon":   3,
	"auth":     4,
	"syslog":   5,
	"lpr":      6,
	"news":     7,
	"uucp":     8,
	"cron":     9,
	"authpriv": 10,
	"ftp":      11,
	"local0":   16,
	"local1":   17,
	"local2":   18,
	"local3":   19,
	"local4":   20,
	"local5":   21,
	"local6":   22,
	"local7":   23,
}

// ParseFacility returns the syslog facility number for a syslog_facility
// value such as "mail" or "local3". Case is ignored. An empty name means
// "mail", Postfix's default.
func ParseFacility(name string) (int, error) {
	if name == "" {
		return facilities["mail"], nil
	}
	f, ok := facilities[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("unknown syslog_facility: %q", name)
	}
	return f, nil
}
