package weights

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxMarkDepth bounds nested MARKs (the unpickler keeps one stack per open
// MARK); torch.save pickles nest a few levels deep.
const maxMarkDepth = 1000

// scanPickle walks every opcode of a pickle before it is unpickled and
// rejects what a torch.save checkpoint never contains: unknown or
// out-of-band opcodes, bytes objects (protocol 2, which torch.save uses,
// has no bytes opcodes), length fields that point past the end of the pickle
// (the unpickler would allocate them before noticing), GLOBAL/INST classes
// outside the allow list, zero-length LONG1/LONG4, and MARK nesting deeper
// than maxMarkDepth. It also tracks the stack height of every MARK frame
// so that stack underflows and DICT/SETITEMS with an odd item count are
// refused here: gopickle v0.2.0 panics on the latter, and on bytes used as
// dict keys (unhashable). It checks the whole byte stream including frame
// contents (FRAME only chunks it).
func scanPickle(p []byte) error {
	pos := 0
	var frames []int // stack heights of the enclosing MARK frames
	cur := 0         // stack height in the current frame
	need := func(n uint64, what string) error {
		if n > uint64(len(p)-pos) {
			return fmt.Errorf("pickle: %s at byte %d claims %d bytes, only %d remain", what, pos, n, len(p)-pos)
		}
		return nil
	}
	line := func(what string) ([]byte, error) {
		i := bytes.IndexByte(p[pos:], '\n')
		if i < 0 {
			return nil, fmt.Errorf("pickle: unterminated %s argument at byte %d", what, pos)
		}
		l := p[pos : pos+i]
		pos += i + 1
		return l, nil
	}
	for pos < len(p) {
		at := pos
		op := p[pos]
		pos++
		// Stack effect: pop items from the current frame, then push.
		pop, push := 0, 0
		popMark := false
		switch op {
		case '(': // MARK
			if len(frames) >= maxMarkDepth {
				return fmt.Errorf("pickle: MARKs nested deeper than %d at byte %d", maxMarkDepth, at)
			}
			frames = append(frames, cur)
			cur = 0
			continue
		case 't', 'l', 'd', 0x91: // build from the items since MARK
			if op == 'd' && cur%2 != 0 {
				return fmt.Errorf("pickle: DICT with an odd number of items (%d) at byte %d", cur, at)
			}
			popMark, push = true, 1
		case 'u', 'e', 0x90: // add the items since MARK to the object below the MARK
			if op == 'u' && cur%2 != 0 {
				return fmt.Errorf("pickle: SETITEMS with an odd number of items (%d) at byte %d", cur, at)
			}
			popMark, pop, push = true, 1, 1
		case '1': // POP_MARK
			popMark = true
		case '.': // STOP
			if cur < 1 {
				return fmt.Errorf("pickle: STOP with an empty stack at byte %d", at)
			}
			return nil
		case '0': // POP: pops the MARK itself when the frame is empty
			if cur == 0 {
				popMark = true
			} else {
				pop = 1
			}
		case '2': // DUP
			pop, push = 1, 2
		case 'N', 0x88, 0x89, '}', ']', ')', 0x8f:
			push = 1
		case 'R', 0x81, 0x93, 'a', 'b', 0x86: // two in, one out (BUILD, APPEND: one consumed)
			pop, push = 2, 1
		case 0x92, 0x87, 's': // NEWOBJ_EX, TUPLE3: three in, one out; SETITEM: dict, key, value → dict
			pop, push = 3, 1
		case 'Q', 0x85: // BINPERSID, TUPLE1
			pop, push = 1, 1
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE: need a value, leave it
			pop, push = 1, 1
			if op == 'q' {
				if err := need(1, "opcode"); err != nil {
					return err
				}
				pos++
			} else if op == 'r' {
				if err := need(4, "opcode"); err != nil {
					return err
				}
				pos += 4
			}
		case 'K', 'h': // 1-byte argument
			if err := need(1, "opcode"); err != nil {
				return err
			}
			pos++
			push = 1
		case 0x80: // PROTO
			if err := need(1, "PROTO"); err != nil {
				return err
			}
			pos++
		case 'M': // 2-byte argument
			if err := need(2, "BININT2"); err != nil {
				return err
			}
			pos += 2
			push = 1
		case 'J', 'j':
			if err := need(4, "opcode"); err != nil {
				return err
			}
			pos += 4
			push = 1
		case 'G': // BINFLOAT
			if err := need(8, "BINFLOAT"); err != nil {
				return err
			}
			pos += 8
			push = 1
		case 'U', 0x8c, 0x8a: // 1-byte length + data
			if err := need(1, "length"); err != nil {
				return err
			}
			n := uint64(p[pos])
			pos++
			if op == 0x8a && n == 0 {
				return fmt.Errorf("pickle: zero-length LONG1 at byte %d", at)
			}
			if err := need(n, "string"); err != nil {
				return err
			}
			pos += int(n)
			push = 1
		case 'T', 'X', 0x8b: // 4-byte length + data
			if err := need(4, "length"); err != nil {
				return err
			}
			n := uint64(binary.LittleEndian.Uint32(p[pos:]))
			pos += 4
			if op == 0x8b && n == 0 {
				return fmt.Errorf("pickle: zero-length LONG4 at byte %d", at)
			}
			if err := need(n, "string"); err != nil {
				return err
			}
			pos += int(n)
			push = 1
		case 0x8d: // BINUNICODE8: 8-byte length + data
			if err := need(8, "length"); err != nil {
				return err
			}
			n := binary.LittleEndian.Uint64(p[pos:])
			pos += 8
			if err := need(n, "string"); err != nil {
				return err
			}
			pos += int(n)
			push = 1
		case 0x95: // FRAME: 8-byte frame length; its content is scanned as part of the stream
			if err := need(8, "FRAME length"); err != nil {
				return err
			}
			n := binary.LittleEndian.Uint64(p[pos:])
			pos += 8
			if err := need(n, "FRAME"); err != nil {
				return err
			}
		case 'F', 'I', 'L', 'S', 'V', 'g': // newline-terminated argument, pushes a value
			if _, err := line("text"); err != nil {
				return err
			}
			push = 1
		case 'p': // PUT
			if _, err := line("PUT"); err != nil {
				return err
			}
			pop, push = 1, 1
		case 'c': // GLOBAL module\nname\n
			mod, err := line("GLOBAL")
			if err != nil {
				return err
			}
			name, err := line("GLOBAL")
			if err != nil {
				return err
			}
			if !allowedClass(string(mod), string(name)) {
				return refuseClass(string(mod), string(name))
			}
			push = 1
		case 'B', 'C', 0x8e, 0x96:
			return fmt.Errorf("pickle: bytes opcode 0x%02x at byte %d: torch.save checkpoints (protocol 2) hold no bytes objects", op, at)
		case 'i', 'o', 'P', 0x82, 0x83, 0x84, 0x97, 0x98:
			return fmt.Errorf("pickle: opcode 0x%02x at byte %d never appears in a torch.save checkpoint", op, at)
		default:
			return fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, at)
		}
		if popMark {
			if len(frames) == 0 {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d without a MARK", op, at)
			}
			cur, frames = frames[len(frames)-1], frames[:len(frames)-1]
		}
		if cur < pop {
			return fmt.Errorf("pickle: stack underflow at byte %d (opcode 0x%02x)", at, op)
		}
		cur += push - pop
	}
	return fmt.Errorf("pickle: no STOP opcode (truncated pickle)")
}
