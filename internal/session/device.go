package session

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mileusna/useragent"
)

// Bounds on what a client's headers can make us store.
const (
	maxUserAgentBytes = 512
	maxDeviceBytes    = 100
)

// DeviceName describes the client of a user agent for people, e.g. "Firefox 120 on Linux",
// "Mobile Safari 17 on iOS", "curl 8". It returns "" when the user agent says nothing useful.
func DeviceName(userAgent string) string {
	if strings.TrimSpace(userAgent) == "" {
		return ""
	}
	ua := useragent.Parse(userAgent)
	name := strings.TrimSpace(ua.Name)
	if name != "" && ua.VersionNo.Major > 0 {
		name += " " + strconv.Itoa(ua.VersionNo.Major)
	}
	switch os := strings.TrimSpace(ua.OS); {
	case name == "" && os == "":
		return ""
	case name == "":
		name = "Unknown browser on " + os
	case os != "":
		name += " on " + os
	}
	return truncateUTF8(name, maxDeviceBytes)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character, and replaces invalid
// bytes so that what is stored is always valid text.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
