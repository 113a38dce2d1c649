#!/usr/bin/env node
// upscalerjs.mjs — runs an UpscalerJS ESRGAN model (@upscalerjs/esrgan-slim,
// -medium or -thick) on @tensorflow/tfjs with the WASM backend, offline, over a
// folder of PNG frames. scripts/install-peers.sh installs the packages and
// copies this file into the peers root; Go package peers runs it.
//
//   node upscalerjs.mjs [--root DIR] --model slim|medium|thick --in IN --out OUT
//                       [--scale 4] [--tile N] [--pad P]
//
// Every *.png in IN is upscaled and written under the same name in OUT (8-bit
// RGB; alpha is dropped). The model weights come from the installed package
// files (DIR/node_modules/@upscalerjs/esrgan-*/models/xS/), never from the
// network. The model's own definition (its custom layers and input/output
// ranges) is taken from the package too. --tile 0 (the default) runs each frame
// whole; --tile N runs N x N input tiles with P pixels of context (default 16)
// on each side, for frames too big for memory. The WASM backend runs
// single-threaded in Node (tfjs 4.11 has no worker-thread support there), with
// SIMD.
//
// Two helper modes the install smoke test uses:
//   --gradient FILE W H        writes a smooth W x H RGB gradient PNG
//   --compare LR SR MAXDIFF    exits 1 unless SR is an integer multiple of LR's
//                              size and SR box-averaged back to LR's size is
//                              within MAXDIFF (mean absolute, 0..255) of LR
//
// DIR defaults to $PSSR_PEERS, else the folder this file is in.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
	const a = { root: process.env.PSSR_PEERS || here, scale: 4, tile: 0, pad: 16 };
	for (let i = 0; i < argv.length; i++) {
		const k = argv[i];
		const next = () => {
			if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
			return argv[++i];
		};
		switch (k) {
			case '--root': a.root = next(); break;
			case '--model': a.model = next(); break;
			case '--in': a.in = next(); break;
			case '--out': a.out = next(); break;
			case '--scale': a.scale = Number(next()); break;
			case '--tile': a.tile = Number(next()); break;
			case '--pad': a.pad = Number(next()); break;
			case '--gradient': a.gradient = [next(), Number(next()), Number(next())]; break;
			case '--compare': a.compare = [next(), next(), Number(next())]; break;
			case '-h': case '--help': a.help = true; break;
			default: throw new Error(`unknown argument ${k}`);
		}
	}
	return a;
}

function loadPNG(require) {
	return require('pngjs').PNG;
}

// readRGB returns {w, h, rgb: Uint8Array (HWC)} of a PNG file of any color type.
function readRGB(PNG, file) {
	const img = PNG.sync.read(fs.readFileSync(file)); // always 8-bit RGBA
	const n = img.width * img.height;
	const rgb = new Uint8Array(n * 3);
	for (let i = 0; i < n; i++) {
		rgb[3 * i] = img.data[4 * i];
		rgb[3 * i + 1] = img.data[4 * i + 1];
		rgb[3 * i + 2] = img.data[4 * i + 2];
	}
	return { w: img.width, h: img.height, rgb };
}

function writeRGB(PNG, file, w, h, rgb) {
	const png = new PNG({ width: w, height: h, colorType: 2, inputColorType: 2, inputHasAlpha: false });
	png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
	const tmp = `${file}.tmp-${process.pid}`;
	fs.writeFileSync(tmp, PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
	fs.renameSync(tmp, file);
}

function gradient(PNG, [file, w, h]) {
	const rgb = new Uint8Array(w * h * 3);
	for (let y = 0; y < h; y++) {
		for (let x = 0; x < w; x++) {
			const o = 3 * (y * w + x);
			// red to blue across, darker down, no green: flat zero channels
			// are what the reduced-precision realesrgan path on lavapipe
			// turns into garbage.
			const t = x / Math.max(1, w - 1), v = 1 - 0.5 * y / Math.max(1, h - 1);
			rgb[o] = Math.round(255 * (1 - t) * v);
			rgb[o + 1] = 0;
			rgb[o + 2] = Math.round(255 * t * v);
		}
	}
	writeRGB(PNG, file, w, h, rgb);
}

function compare(PNG, [lrFile, srFile, maxDiff]) {
	const lr = readRGB(PNG, lrFile), sr = readRGB(PNG, srFile);
	const s = sr.w / lr.w;
	if (!Number.isInteger(s) || s < 1 || sr.h !== lr.h * s) {
		console.error(`compare: ${sr.w}x${sr.h} is not an integer multiple of ${lr.w}x${lr.h}`);
		return 1;
	}
	let sum = 0;
	for (let y = 0; y < lr.h; y++) {
		for (let x = 0; x < lr.w; x++) {
			for (let c = 0; c < 3; c++) {
				let acc = 0;
				for (let dy = 0; dy < s; dy++) {
					for (let dx = 0; dx < s; dx++) acc += sr.rgb[3 * ((y * s + dy) * sr.w + x * s + dx) + c];
				}
				sum += Math.abs(acc / (s * s) - lr.rgb[3 * (y * lr.w + x) + c]);
			}
		}
	}
	const mad = sum / (lr.w * lr.h * 3);
	console.error(`compare: ${path.basename(srFile)} x${s}, mean abs diff to ${path.basename(lrFile)} after box down-sampling: ${mad.toFixed(2)} (max ${maxDiff})`);
	return mad <= maxDiff ? 0 : 1;
}

// loadModel loads @upscalerjs/esrgan-NAME's xS model from the package files.
async function loadModel(tf, require, root, name, scale) {
	const def = require(`@upscalerjs/esrgan-${name}/${scale}x`);
	if (typeof def.setup === 'function') def.setup(tf); // registers custom layers
	const pkgDir = path.join(root, 'node_modules', '@upscalerjs', `esrgan-${name}`);
	const modelJSON = path.join(pkgDir, def._internals.path);
	const mj = JSON.parse(fs.readFileSync(modelJSON, 'utf8'));
	const weightSpecs = [];
	const shards = [];
	for (const group of mj.weightsManifest) {
		weightSpecs.push(...group.weights);
		for (const p of group.paths) shards.push(fs.readFileSync(path.join(path.dirname(modelJSON), p)));
	}
	const all = Buffer.concat(shards);
	const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
	const handler = {
		load: async () => ({
			modelTopology: mj.modelTopology,
			format: mj.format,
			generatedBy: mj.generatedBy,
			convertedBy: mj.convertedBy,
			weightSpecs,
			weightData,
		}),
	};
	const model = await tf.loadLayersModel(handler);
	return { model, def };
}

// upscale runs the model over one RGB frame and returns the 8-bit result.
function upscale(tf, model, def, scale, { w, h, rgb }, tile, pad) {
	const [inLo, inHi] = def.inputRange || [0, 1];
	const [outLo, outHi] = def.outputRange || [0, 1];
	const input = new Float32Array(w * h * 3);
	for (let i = 0; i < input.length; i++) input[i] = inLo + (rgb[i] / 255) * (inHi - inLo);
	const W = w * scale, H = h * scale;
	const out = new Uint8Array(W * H * 3);
	const step = tile > 0 ? tile : Math.max(w, h);
	const full = tf.tensor4d(input, [1, h, w, 3]);
	try {
		for (let ty = 0; ty < h; ty += step) {
			for (let tx = 0; tx < w; tx += step) {
				const x0 = tx, y0 = ty, x1 = Math.min(w, tx + step), y1 = Math.min(h, ty + step);
				const px0 = tile > 0 ? Math.max(0, x0 - pad) : 0, py0 = tile > 0 ? Math.max(0, y0 - pad) : 0;
				const px1 = tile > 0 ? Math.min(w, x1 + pad) : w, py1 = tile > 0 ? Math.min(h, y1 + pad) : h;
				const res = tf.tidy(() => {
					const patch = full.slice([0, py0, px0, 0], [1, py1 - py0, px1 - px0, 3]);
					let y = model.predict(patch);
					if (Array.isArray(y)) y = y[0];
					return y.slice([0, (y0 - py0) * scale, (x0 - px0) * scale, 0], [1, (y1 - y0) * scale, (x1 - x0) * scale, 3]);
				});
				const data = res.dataSync();
				res.dispose();
				const tw = (x1 - x0) * scale, th = (y1 - y0) * scale;
				for (let yy = 0; yy < th; yy++) {
					for (let xx = 0; xx < tw; xx++) {
						for (let c = 0; c < 3; c++) {
							const v = (data[3 * (yy * tw + xx) + c] - outLo) / (outHi - outLo);
							out[3 * ((y0 * scale + yy) * W + x0 * scale + xx) + c] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
						}
					}
				}
			}
		}
	} finally {
		full.dispose();
	}
	return { w: W, h: H, rgb: out };
}

async function main() {
	const a = parseArgs(process.argv.slice(2));
	if (a.help) {
		console.log('usage: node upscalerjs.mjs [--root DIR] --model slim|medium|thick --in IN --out OUT [--scale 4] [--tile N] [--pad P]');
		return 0;
	}
	const root = path.resolve(a.root);
	if (!fs.existsSync(path.join(root, 'node_modules'))) {
		throw new Error(`no node_modules under ${root}: run scripts/install-peers.sh`);
	}
	const require = createRequire(path.join(root, 'package.json'));
	const PNG = loadPNG(require);
	if (a.gradient) { gradient(PNG, a.gradient); return 0; }
	if (a.compare) return compare(PNG, a.compare);

	if (!['slim', 'medium', 'thick'].includes(a.model)) throw new Error('--model must be slim, medium or thick');
	if (![2, 3, 4, 8].includes(a.scale)) throw new Error('--scale must be 2, 3, 4 or 8');
	if (!a.in || !a.out) throw new Error('--in and --out are required');

	const tf = require('@tensorflow/tfjs');
	const wasm = require('@tensorflow/tfjs-backend-wasm');
	wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
	if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialize');
	await tf.ready();

	const t0 = Date.now();
	const { model, def } = await loadModel(tf, require, root, a.model, a.scale);
	const files = fs.readdirSync(a.in).filter((f) => f.toLowerCase().endsWith('.png')).sort();
	if (files.length === 0) throw new Error(`no PNG files in ${a.in}`);
	fs.mkdirSync(a.out, { recursive: true });
	console.error(`upscalerjs: esrgan-${a.model} x${a.scale} on tfjs ${tf.version.tfjs} ${tf.getBackend()}, loaded in ${Date.now() - t0} ms`);
	for (const f of files) {
		const t = Date.now();
		const img = readRGB(PNG, path.join(a.in, f));
		const up = upscale(tf, model, def, a.scale, img, a.tile, a.pad);
		writeRGB(PNG, path.join(a.out, f), up.w, up.h, up.rgb);
		console.error(`upscalerjs: ${f} ${img.w}x${img.h} -> ${up.w}x${up.h} in ${Date.now() - t} ms`);
	}
	return 0;
}

main().then((code) => process.exit(code), (err) => {
	console.error(`upscalerjs: ${err && err.stack ? err.stack : err}`);
	process.exit(1);
});
