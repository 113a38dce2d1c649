// Package dataset provides the training material of pssr: clips of
// ground-truth frames cut from real videos (frame folders or video files)
// and pseudo-videos made from still photographs, a fixed train/validation
// split of the project's data, and a Sampler that makes batches of
// (ground truth, degraded) clip pairs on the fly with package degrade.
//
// All randomness comes from *rand.Rand values (math/rand/v2, PCG) seeded by
// the caller, so batches are reproducible.
//
// The photographs come from Debian wallpaper packages; fetch them with
// scripts/fetch-photos.sh DEST.
package dataset
