// Package degrade makes low-quality training inputs from high-quality
// frames with the released degradation pipelines (§8 of the method notes):
//
//   - "bicubic": a clean antialiased bicubic downscale;
//   - "realesrgan": Real-ESRGAN's second-order pipeline (blur, resize,
//     noise, JPEG, twice, then a final resize with a sinc filter), drawn
//     independently for every frame;
//   - "realbasicvsr": the video variant, one draw for the whole clip plus
//     video compression (libx264 / h264 / mpeg4 at 1e4..1e5 bit/s) through
//     the ffmpeg executable.
//
// Every random choice of one draw is collected in a Params value (JSON-able)
// so a degradation can be logged and replayed bit-identically. Randomness
// comes only from *rand.Rand values (PCG) seeded by the caller.
//
// The building blocks are exported too: blur kernels (Gaussian,
// generalized Gaussian, plateau, sinc) and RandomKernel, Filter, Gaussian
// and Poisson noise, JPEG and CompressVideo.
//
// Differences from the release worth knowing: resizing goes through
// frame.Resize, whose bilinear and bicubic kernels are antialiased when
// downscaling (PyTorch's interpolate is not); kernels keep their drawn size
// instead of being zero-padded to 21 (same result, less work); Poisson noise
// follows the release's CPU implementation (levels counted on the 8-bit
// image); JPEG uses the standard library codec with integer quality.
package degrade
