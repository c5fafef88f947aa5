import { isUtf8 } from 'node:buffer';
import type * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { invalidField, type SignerError } from '../../domain/errors.js';

/**
 * Request deserializers that refuse what protobufjs lets through or gets wrong: a string field
 * whose bytes are not UTF-8 (protobufjs substitutes U+FFFD, so the service would sign other text
 * than the caller sent), a field longer than the message (protobufjs cuts strings short), a known
 * field with the wrong wire type (protobufjs reads it as the declared type anyway), and bytes
 * that are no protobuf message (grpc-js answers INTERNAL).
 *
 * grpc-js turns any error thrown by a deserializer into INTERNAL, so the refusal travels in place
 * of the request and the handler wrapper throws it: the caller gets INVALID_ARGUMENT naming the
 * field, and the call is audited like any other.
 */

const REFUSED = Symbol('refused request');

/** The refusal a strict deserializer left in place of the request, if any. */
export function refusalOf(request: unknown): SignerError | undefined {
  return typeof request === 'object' && request !== null ? (request as { [REFUSED]?: SignerError })[REFUSED] : undefined;
}

interface Descriptor {
  name: string;
  field: Array<{ name: string; number: number; type: string; typeName: string; label: string }>;
  nestedType?: Descriptor[];
  options?: { mapEntry?: boolean } | null;
}

/**
 * `definition` (the loaded package) supplies the message types that requests refer to by name, such
 * as SignBatch's items: their fields are checked like the request's own.
 */
export function withStrictRequests(service: grpc.ServiceDefinition, definition: PackageDefinition = {}): grpc.ServiceDefinition {
  const messages = new Map<string, Descriptor>();
  for (const value of Object.values(definition)) {
    const type = (value as { type?: Descriptor }).type;
    if ((value as { format?: unknown }).format === 'Protocol Buffer 3 DescriptorProto' && type?.field) messages.set(type.name, type);
  }
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => {
      const descriptor = (method as { requestType?: { type?: Descriptor } }).requestType?.type;
      const requestDeserialize = (bytes: Buffer): unknown => {
        let problem: SignerError | undefined;
        try {
          problem = descriptor && badField(bytes, descriptor, '', messages);
          if (!problem) return method.requestDeserialize(bytes);
        } catch (error) {
          problem = invalidField('request', `is not a valid protobuf message: ${(error as Error).message}`);
        }
        return { [REFUSED]: problem };
      };
      return [name, { ...method, requestDeserialize }];
    }),
  );
}

// The wire type each declared type is written with; repeated scalars may also be packed (2).
const WIRE_TYPES: Record<string, number> = {
  TYPE_STRING: 2, TYPE_BYTES: 2, TYPE_MESSAGE: 2,
  TYPE_DOUBLE: 1, TYPE_FIXED64: 1, TYPE_SFIXED64: 1,
  TYPE_FLOAT: 5, TYPE_FIXED32: 5, TYPE_SFIXED32: 5,
};

/**
 * The first problem protobufjs would not report, walking the wire format: a known field that is
 * not UTF-8 or has the wrong wire type, or a length past the end. Unknown fields are skipped;
 * other malformed framing stops the walk and is left to protobufjs.
 */
function badField(bytes: Uint8Array, descriptor: Descriptor, prefix: string, messages: ReadonlyMap<string, Descriptor>): SignerError | undefined {
  const occurrences = new Map<number, number>();
  for (let at = 0; at < bytes.length; ) {
    const tag = readVarint(bytes, at);
    if (!tag) return undefined;
    at = tag.next;
    const wireType = tag.value % 8;
    const field = descriptor.field.find((f) => f.number === Math.floor(tag.value / 8));
    const nested = field?.type === 'TYPE_MESSAGE' ? (descriptor.nestedType?.find((n) => n.name === field.typeName) ?? messages.get(field.typeName)) : undefined;
    const repeated = field?.label === 'LABEL_REPEATED' && !nested?.options?.mapEntry ? (occurrences.get(field.number) ?? 0) : undefined;
    if (field && repeated !== undefined) occurrences.set(field.number, repeated + 1);
    // A repeated field's name carries the index of this occurrence: items[3].sign_typed_data.typed_data_json.
    const name = field && prefix + field.name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()) + (repeated === undefined ? '' : `[${repeated}]`);
    if (field) {
      const expected = WIRE_TYPES[field.type] ?? 0;
      const packed = field.label === 'LABEL_REPEATED' && wireType === 2;
      if (wireType !== expected && !packed) return invalidField(name!, `has protobuf wire type ${wireType}, not ${expected}`);
    }
    if (wireType === 0) {
      const skipped = readVarint(bytes, at);
      if (!skipped) return undefined;
      at = skipped.next;
    } else if (wireType === 1 || wireType === 5) {
      at += wireType === 1 ? 8 : 4;
    } else if (wireType === 2) {
      const length = readVarint(bytes, at);
      if (!length) return undefined;
      // protobufjs cuts such a string short instead of refusing it.
      if (length.next + length.value > bytes.length) return invalidField('request', `is not a valid protobuf message: field ${Math.floor(tag.value / 8)} runs past the end`);
      const body = bytes.subarray(length.next, length.next + length.value);
      at = length.next + length.value;
      if (field?.type === 'TYPE_STRING' && !isUtf8(body)) return invalidField(name!, 'is not valid UTF-8');
      const problem = nested && badField(body, nested, `${name}.`, messages);
      if (problem) return problem;
    } else return undefined;
  }
  return undefined;
}

function readVarint(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 10 && at + i < bytes.length; i++) {
    const byte = bytes[at + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return { value, next: at + i + 1 };
  }
  return undefined;
}
