/** Minimal float32 safetensors I/O for the few tensors TypeScript makes itself (probe classifier weights, embeddings). */
import * as fs from 'node:fs';
import { FileError } from '../errors';

/** One float32 tensor: its shape and row-major data. */
export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

/** Write float32 tensors to a .safetensors file (8-byte LE header length, JSON header, little-endian data). */
export function writeSafetensors(file: string, tensors: Record<string, F32Tensor>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`writeSafetensors: ${key} has ${t.data.length} values for shape [${t.shape}]`);
    header[key] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8) json += ' ';
  const head = Buffer.from(json, 'utf8');
  const buf = Buffer.alloc(8 + head.length + offset);
  buf.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(buf, 8);
  let pos = 8 + head.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++, pos += 4) buf.writeFloatLE(t.data[i], pos);
  }
  fs.writeFileSync(file, buf);
}

/** Read the float32 tensors of a .safetensors file (other dtypes are an error naming the key). */
export function readSafetensorsF32(file: string): Map<string, F32Tensor> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new FileError(file, 'not a safetensors file (header runs past the end)');
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, F32Tensor>();
  for (const [key, e] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    if (e.dtype !== 'F32') throw new FileError(file, `${key} is ${e.dtype}, expected F32`, key);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const start = 8 + n + e.data_offsets[0];
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = buf.readFloatLE(start + i * 4);
    out.set(key, { shape: e.shape, data });
  }
  return out;
}
