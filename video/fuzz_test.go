package video

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The fuzz targets run their seeds with every go test; fuzz one with, for
// example, go test ./video -run '^$' -fuzz FuzzProbeJSON -fuzztime 30s.

// FuzzNaturalSort checks that compareNatural is an order: antisymmetric,
// zero only for names that are equal up to leading zeros, and that
// sortNatural never panics.
func FuzzNaturalSort(f *testing.F) {
	for _, s := range [][2]string{{"f2.png", "f10.png"}, {"f02", "f2"}, {"a", ""}, {"9999999999999999999999", "1"}, {"x00", "x0"}, {"1a2", "1a10"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := compareNatural(a, b), compareNatural(b, a)
		if sign(ab) != -sign(ba) {
			t.Fatalf("compareNatural(%q, %q) = %d but reversed %d", a, b, ab, ba)
		}
		if a == b && ab != 0 {
			t.Fatalf("compareNatural(%q, itself) = %d", a, ab)
		}
		names := []string{b, a, a + b, b + a}
		sortNatural(names)
		for i := 1; i < len(names); i++ {
			if compareNatural(names[i-1], names[i]) > 0 {
				t.Fatalf("not sorted: %q", names)
			}
		}
	})
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// FuzzParseRational checks that an accepted rate fits ffmpeg's 32-bit
// rationals and has a non-zero denominator.
func FuzzParseRational(f *testing.F) {
	for _, s := range []string{"30000/1001", "25", "29.97", "0/0", "-9223372036854775808/1000", "1e-320", " 24 / 1 ", "NaN", "1/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRational(s)
		if err != nil {
			return
		}
		const lim = 1<<31 - 1
		if r.Den == 0 || r.Num > lim || r.Num < -lim || r.Den > lim || r.Den < -lim {
			t.Fatalf("ParseRational(%q) = %v", s, r)
		}
	})
}

// FuzzProbeJSON feeds ffprobe JSON to the probe parser: it must return an
// Info that can be read (positive size, frames and a valid rate within
// bounds) or an error, never panic.
func FuzzProbeJSON(f *testing.F) {
	for _, s := range []string{
		`{"streams":[{"index":0,"codec_type":"video","codec_name":"h264","width":64,"height":48,"r_frame_rate":"30000/1001","avg_frame_rate":"30000/1001","nb_frames":"6"}],"format":{"format_name":"mov,mp4","duration":"0.2"}}`,
		`{"streams":[{"codec_type":"video","width":64,"height":48,"r_frame_rate":"0/0","avg_frame_rate":"0/0","nb_frames":"3","duration":"1e-320"}],"format":{"duration":"1e-320"}}`,
		`{"streams":[{"codec_type":"video","width":64,"height":48,"r_frame_rate":"25/1","side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],"format":{}}`,
		`{"streams":[{"codec_type":"audio","codec_name":"aac"}],"format":{"format_name":"mp3"}}`,
		`{"streams":[{"codec_type":"video","width":64,"height":48,"tags":{"rotate":"1e308"},"disposition":{"attached_pic":1}}]}`,
	} {
		f.Add([]byte(s), 5)
	}
	f.Fuzz(func(t *testing.T, data []byte, packets int) {
		var p probeOut
		if json.Unmarshal(data, &p) != nil {
			return
		}
		count := func(int) (int, error) {
			if packets < 0 {
				return 0, errors.New("ffprobe failed")
			}
			return packets, nil
		}
		info, err := infoFromProbe("x.mkv", &p, count)
		if err != nil {
			if !errors.Is(err, ErrInvalidData) && !errors.Is(err, ErrNoFrames) && !strings.Contains(err.Error(), "ffprobe failed") {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if info.Width <= 0 || info.Height <= 0 || info.Frames <= 0 || !info.FrameRate.Valid() || info.FrameRate.Float() > 1<<31 {
			t.Fatalf("bad info %+v from %s", info, data)
		}
		if info.Rotation%90 != 0 || info.Rotation < 0 || info.Rotation >= 360 {
			t.Fatalf("rotation %d", info.Rotation)
		}
		if !(info.Duration > 0) {
			t.Fatalf("duration %v", info.Duration)
		}
	})
}

// FuzzParseVersion checks the ffmpeg version parser never panics and never
// gives a negative version.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"ffmpeg version 5.1.9-0+deb12u1 Copyright", "ffmpeg version n7.1", "ffmpeg version N-12345-gabc", "version ", "version 99999999999999999999.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if major, minor := parseVersion(s); major < 0 || minor < 0 {
			t.Fatalf("parseVersion(%q) = %d.%d", s, major, minor)
		}
	})
}
