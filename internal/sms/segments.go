package sms

import "unicode/utf16"

// Encodings of a text message, as reported by Segments.
const (
	// EncodingGSM7 is the GSM 03.38 default alphabet, 7 bits a character: 160 characters in one
	// segment, 153 in each segment of a longer message.
	EncodingGSM7 = "gsm7"
	// EncodingUCS2 is used as soon as one character is outside that alphabet (Arabic, emoji, curly
	// quotes): 70 UTF-16 code units in one segment, 67 in each segment of a longer message.
	EncodingUCS2 = "ucs2"
)

// gsm7Basic is the GSM 03.38 basic character set (one septet each) and gsm7Extended the characters
// reached through its escape (two septets each).
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Extended = "\f^{}\\[~]|€"
)

var gsm7Septets = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsm7Basic {
		m[r] = 1
	}
	for _, r := range gsm7Extended {
		m[r] = 2
	}
	return m
}()

// Segments tells how a text travels: its encoding and how many segments (billed messages) it
// takes. Providers bill per segment, which makes it the unit of an SMS budget.
func Segments(text string) (count int, encoding string) {
	if text == "" {
		return 0, EncodingGSM7
	}
	septets := 0
	for _, r := range text {
		n, ok := gsm7Septets[r]
		if !ok {
			units := len(utf16.Encode([]rune(text)))
			return segmentCount(units, 70, 67), EncodingUCS2
		}
		septets += n
	}
	return segmentCount(septets, 160, 153), EncodingGSM7
}

func segmentCount(units, single, multi int) int {
	if units <= single {
		return 1
	}
	return (units + multi - 1) / multi
}
