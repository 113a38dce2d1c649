package video

import (
	"slices"
	"strings"
)

// sortNatural sorts names so that runs of digits compare as numbers:
// "f2.png" before "f10.png". Ties ("f2" and "f02") fall back to plain
// string order.
func sortNatural(names []string) {
	slices.SortStableFunc(names, func(a, b string) int {
		if c := compareNatural(a, b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// compareNatural compares a and b byte by byte, except that where both have
// a run of digits the runs compare by value.
func compareNatural(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			ei, ej := digitsEnd(a, i), digitsEnd(b, j)
			na, nb := strings.TrimLeft(a[i:ei], "0"), strings.TrimLeft(b[j:ej], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			i, j = ei, ej
			continue
		}
		if a[i] != b[j] {
			return int(a[i]) - int(b[j])
		}
		i++
		j++
	}
	return (len(a) - i) - (len(b) - j)
}

// digitsEnd returns the end of the digit run starting at s[i].
func digitsEnd(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
