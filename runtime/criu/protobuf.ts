// A minimal protobuf (proto2 wire format) reader for the few CRIU image
// messages faultc needs. It knows wire types, not schemas: a message is read
// into a map from field number to its raw values, and each image message
// picks the fields it wants (images.ts). Unknown fields are skipped, so newer
// images with more fields still read.

export type WireValue = { kind: 'varint'; value: bigint } | { kind: 'bytes'; value: Uint8Array } | { kind: 'fixed'; value: bigint };

export class WireError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new WireError('varint runs past the end of the message', pos);
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
  throw new WireError('varint longer than 10 bytes', pos);
}

function readFixed(buf: Uint8Array, pos: number, size: 4 | 8): bigint {
  if (pos + size > buf.length) throw new WireError(`${size}-byte field runs past the end of the message`, pos);
  const view = new DataView(buf.buffer, buf.byteOffset + pos, size);
  return size === 4 ? BigInt(view.getUint32(0, true)) : view.getBigUint64(0, true);
}

/** Every field of one message, in wire order, grouped by field number. */
export function decodeFields(buf: Uint8Array): Map<number, WireValue[]> {
  const fields = new Map<number, WireValue[]>();
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new WireError('field number 0', pos);
    let value: WireValue;
    pos = afterKey;
    switch (wire) {
      case 0: {
        const [v, next] = readVarint(buf, pos);
        value = { kind: 'varint', value: v };
        pos = next;
        break;
      }
      case 1:
        value = { kind: 'fixed', value: readFixed(buf, pos, 8) };
        pos += 8;
        break;
      case 2: {
        const [len, next] = readVarint(buf, pos);
        const end = next + Number(len);
        if (end > buf.length) throw new WireError('length-delimited field runs past the end of the message', pos);
        value = { kind: 'bytes', value: buf.subarray(next, end) };
        pos = end;
        break;
      }
      case 5:
        value = { kind: 'fixed', value: readFixed(buf, pos, 4) };
        pos += 4;
        break;
      default:
        throw new WireError(`unsupported wire type ${wire}`, pos);
    }
    const list = fields.get(field);
    if (list) list.push(value);
    else fields.set(field, [value]);
  }
  return fields;
}

/** The last value of a numeric field (proto2: the last one wins), or undefined. */
export function uint(fields: Map<number, WireValue[]>, field: number): bigint | undefined {
  const list = fields.get(field);
  const last = list?.[list.length - 1];
  if (last === undefined) return undefined;
  if (last.kind === 'bytes') throw new WireError(`field ${field} is length-delimited where a number was expected`, 0);
  return last.value;
}

/** A required numeric field as a safe integer. */
export function requiredNumber(fields: Map<number, WireValue[]>, field: number, name: string): number {
  const v = uint(fields, field);
  if (v === undefined) throw new WireError(`required field ${name} (${field}) is missing`, 0);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`field ${name} (${field}) is too large: ${v}`, 0);
  return Number(v);
}

/**
 * A required address field: a number that holds it exactly (every page-aligned
 * user address does, and so does the vsyscall page's 0xffffffffff600000).
 */
export function requiredAddress(fields: Map<number, WireValue[]>, field: number, name: string): number {
  const v = uint(fields, field);
  if (v === undefined) throw new WireError(`required field ${name} (${field}) is missing`, 0);
  const n = Number(v);
  if (BigInt(n) !== v) throw new WireError(`field ${name} (${field}) is not an exact address: 0x${v.toString(16)}`, 0);
  return n;
}

/** Every embedded message of a repeated message field. */
export function messages(fields: Map<number, WireValue[]>, field: number): Uint8Array[] {
  return (fields.get(field) ?? []).flatMap((v) => (v.kind === 'bytes' ? [v.value] : []));
}

/** A string field (UTF-8), or undefined. */
export function text(fields: Map<number, WireValue[]>, field: number): string | undefined {
  const list = fields.get(field);
  const last = list?.[list.length - 1];
  return last?.kind === 'bytes' ? new TextDecoder().decode(last.value) : undefined;
}
