package video_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/video"
)

// A video is copied frame by frame, keeping its exact frame rate, its
// rotation metadata and its audio and subtitle streams. This example needs
// real files, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	in, err := video.Open(ctx, "input.mp4")
	if err != nil {
		log.Fatal(err) // errors.Is(err, video.ErrNotFound), ErrInvalidData, ...
	}
	defer in.Close()
	info := in.Info()
	out, err := video.Create(ctx, "output.mkv", video.WriterOptions{
		Codec:       video.FFV1,
		FrameRate:   info.FrameRate, // e.g. 30000/1001, kept exact
		Rotation:    info.Rotation,
		StreamsFrom: "input.mp4",
	})
	if err != nil {
		log.Fatal(err)
	}
	for {
		m, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = out.Write(m) // a model would process m here
		}
		if err != nil {
			out.Abort() // removes the unfinished output
			log.Fatal(err)
		}
	}
	if err := out.Close(); err != nil { // renames output.mkv into place
		log.Fatal(err)
	}
}

// A folder of PNG frames is written and read back; this needs no ffmpeg.
func ExampleCreate_pngFolder() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, "frames")

	w, err := video.Create(ctx, path, video.WriterOptions{}) // no extension: PNG folder
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		m := frame.New(8, 6)
		m.Set(i, 0, 0, 1) // one red pixel moving right
		if err := w.Write(m); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := video.Open(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	info := r.Info()
	fmt.Println(info.Folder, info.Width, info.Height, info.Frames, info.FrameRate)
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		for x := range m.W {
			if m.At(x, 0, 0) == 1 {
				fmt.Println("red at", x)
			}
		}
	}
	// Output:
	// true 8 6 3 25/1
	// red at 0
	// red at 1
	// red at 2
}

func ExampleCodecForPath() {
	for _, p := range []string{"out.mp4", "out.webm", "out.mkv", "frames"} {
		fmt.Println(p, video.CodecForPath(p))
	}
	// Output:
	// out.mp4 h264
	// out.webm vp9
	// out.mkv h264
	// frames png
}

func ExampleParseRational() {
	r, _ := video.ParseRational("30000/1001")
	fmt.Println(r, r.Float() > 29.97)
	// Output: 30000/1001 true
}
