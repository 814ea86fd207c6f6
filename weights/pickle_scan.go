package weights

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// maxMarkDepth bounds nested MARKs (the unpickler keeps one stack per open
// MARK); torch.save pickles nest a few levels deep.
const maxMarkDepth = 1000

// scanItem is what the pre-scan knows about one stack entry: a string
// literal's value, or nothing.
type scanItem struct {
	s     string
	isStr bool
}

// scanPickle walks every opcode of a pickle before it is unpickled, tracking
// the stack abstractly (string literals by value, everything else as
// "unknown", MARK frames, the memo), and rejects what a torch.save
// checkpoint never contains:
//
//   - unknown or out-of-band opcodes (INST, OBJ, PERSID text form,
//     extension registry, NEXT_BUFFER/READONLY_BUFFER);
//   - bytes objects (protocol 2, which torch.save uses, has no bytes
//     opcodes; gopickle panics on bytes used as a dict key);
//   - length fields that point past the end of the pickle (gopickle would
//     allocate them before noticing);
//   - any class outside the allow list, for GLOBAL and for STACK_GLOBAL
//     (whose module and name must be string literals, possibly via the memo)
//     — this also covers the classes gopickle resolves itself before asking
//     FindClass (copy_reg._reconstructor, __builtin__.object);
//   - stack underflow, DICT/SETITEMS with an odd number of items (gopickle
//     panics on those), zero-length LONG1/LONG4 (ditto), and MARK nesting
//     deeper than maxMarkDepth.
//
// FRAME only chunks the stream, so frame contents are scanned in line.
func scanPickle(p []byte) error {
	pos := 0
	var stack []scanItem
	var marks []int // stack heights at each open MARK
	memo := map[int]scanItem{}
	base := func() int {
		if len(marks) == 0 {
			return 0
		}
		return marks[len(marks)-1]
	}
	need := func(n uint64, what string) error {
		if n > uint64(len(p)-pos) {
			return fmt.Errorf("pickle: %s at byte %d claims %d bytes, only %d remain", what, pos, n, len(p)-pos)
		}
		return nil
	}
	arg := func(n int, what string) ([]byte, error) {
		if err := need(uint64(n), what); err != nil {
			return nil, err
		}
		b := p[pos : pos+n]
		pos += n
		return b, nil
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
	// str reads a length-prefixed string of lenBytes (1, 4 or 8) length bytes.
	str := func(lenBytes int) (string, error) {
		b, err := arg(lenBytes, "length")
		if err != nil {
			return "", err
		}
		var n uint64
		switch lenBytes {
		case 1:
			n = uint64(b[0])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(b))
		default:
			n = binary.LittleEndian.Uint64(b)
		}
		if err := need(n, "string"); err != nil {
			return "", err
		}
		s := string(p[pos : pos+int(n)])
		pos += int(n)
		return s, nil
	}
	for pos < len(p) {
		at := pos
		op := p[pos]
		pos++
		unknown := scanItem{}
		var pushed []scanItem // what the opcode pushes, after popping `pop` items
		pop := 0
		popMark := false
		var err error
		switch op {
		case '(': // MARK
			if len(marks) >= maxMarkDepth {
				return fmt.Errorf("pickle: MARKs nested deeper than %d at byte %d", maxMarkDepth, at)
			}
			marks = append(marks, len(stack))
			continue
		case 't', 'l', 'd', 0x91: // TUPLE, LIST, DICT, FROZENSET: build from the items since MARK
			if n := len(stack) - base(); op == 'd' && n%2 != 0 {
				return fmt.Errorf("pickle: DICT with an odd number of items (%d) at byte %d", n, at)
			}
			popMark, pushed = true, []scanItem{unknown}
		case 'u', 'e', 0x90: // SETITEMS, APPENDS, ADDITEMS: add the items since MARK to the object below it
			if n := len(stack) - base(); op == 'u' && n%2 != 0 {
				return fmt.Errorf("pickle: SETITEMS with an odd number of items (%d) at byte %d", n, at)
			}
			popMark, pop, pushed = true, 1, []scanItem{unknown}
		case '1': // POP_MARK
			popMark = true
		case '.': // STOP
			if len(stack)-base() < 1 {
				return fmt.Errorf("pickle: STOP with an empty stack at byte %d", at)
			}
			return nil
		case '0': // POP: pops the MARK itself when the frame is empty
			if len(stack) == base() {
				popMark = true
			} else {
				pop = 1
			}
		case '2': // DUP
			if len(stack)-base() < 1 {
				return fmt.Errorf("pickle: stack underflow at byte %d (DUP)", at)
			}
			pushed = []scanItem{stack[len(stack)-1]}
		case 'N', 0x88, 0x89, '}', ']', ')', 0x8f: // None, True, False, empty dict/list/tuple/set
			pushed = []scanItem{unknown}
		case 'R', 0x81, 'a', 'b', 0x86: // REDUCE, NEWOBJ, APPEND, BUILD, TUPLE2: two in, one out
			pop, pushed = 2, []scanItem{unknown}
		case 0x92, 0x87, 's': // NEWOBJ_EX, TUPLE3, SETITEM: three in, one out
			pop, pushed = 3, []scanItem{unknown}
		case 'Q', 0x85: // BINPERSID, TUPLE1
			pop, pushed = 1, []scanItem{unknown}
		case 0x93: // STACK_GLOBAL: module and name must be known strings
			if len(stack)-base() < 2 {
				return fmt.Errorf("pickle: stack underflow at byte %d (STACK_GLOBAL)", at)
			}
			mod, name := stack[len(stack)-2], stack[len(stack)-1]
			if !mod.isStr || !name.isStr {
				return fmt.Errorf("pickle: STACK_GLOBAL at byte %d with a computed class name", at)
			}
			if !allowedClass(mod.s, name.s) {
				return refuseClass(mod.s, name.s)
			}
			pop, pushed = 2, []scanItem{unknown}
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
			pushed = []scanItem{unknown}
		case 'q', 'r', 'p', 0x94: // BINPUT, LONG_BINPUT, PUT, MEMOIZE: store the top in the memo
			if len(stack)-base() < 1 {
				return fmt.Errorf("pickle: stack underflow at byte %d (memo store)", at)
			}
			var idx int
			switch op {
			case 'q':
				b, err := arg(1, "BINPUT")
				if err != nil {
					return err
				}
				idx = int(b[0])
			case 'r':
				b, err := arg(4, "LONG_BINPUT")
				if err != nil {
					return err
				}
				idx = int(binary.LittleEndian.Uint32(b))
			case 'p':
				l, err := line("PUT")
				if err != nil {
					return err
				}
				if idx, err = strconv.Atoi(string(l)); err != nil || idx < 0 {
					return fmt.Errorf("pickle: bad PUT index %q at byte %d", l, at)
				}
			default:
				idx = len(memo)
			}
			memo[idx] = stack[len(stack)-1]
		case 'h', 'j', 'g': // BINGET, LONG_BINGET, GET
			var idx int
			switch op {
			case 'h':
				b, err := arg(1, "BINGET")
				if err != nil {
					return err
				}
				idx = int(b[0])
			case 'j':
				b, err := arg(4, "LONG_BINGET")
				if err != nil {
					return err
				}
				idx = int(binary.LittleEndian.Uint32(b))
			default:
				l, err := line("GET")
				if err != nil {
					return err
				}
				if idx, err = strconv.Atoi(string(l)); err != nil {
					return fmt.Errorf("pickle: bad GET index %q at byte %d", l, at)
				}
			}
			pushed = []scanItem{memo[idx]} // a missing entry is "unknown" (gopickle pushes None)
		case 'K': // BININT1
			_, err = arg(1, "BININT1")
			pushed = []scanItem{unknown}
		case 'M': // BININT2
			_, err = arg(2, "BININT2")
			pushed = []scanItem{unknown}
		case 'J': // BININT
			_, err = arg(4, "BININT")
			pushed = []scanItem{unknown}
		case 'G': // BINFLOAT
			_, err = arg(8, "BINFLOAT")
			pushed = []scanItem{unknown}
		case 0x80: // PROTO
			_, err = arg(1, "PROTO")
		case 0x95: // FRAME: its content is scanned as part of the stream
			var b []byte
			if b, err = arg(8, "FRAME length"); err == nil {
				err = need(binary.LittleEndian.Uint64(b), "FRAME")
			}
		case 'U', 0x8c: // SHORT_BINSTRING, SHORT_BINUNICODE
			var s string
			s, err = str(1)
			pushed = []scanItem{{s: s, isStr: true}}
		case 'T', 'X': // BINSTRING, BINUNICODE
			var s string
			s, err = str(4)
			pushed = []scanItem{{s: s, isStr: true}}
		case 0x8d: // BINUNICODE8
			var s string
			s, err = str(8)
			pushed = []scanItem{{s: s, isStr: true}}
		case 0x8a, 0x8b: // LONG1, LONG4
			var s string
			if op == 0x8a {
				s, err = str(1)
			} else {
				s, err = str(4)
			}
			if err == nil && len(s) == 0 {
				return fmt.Errorf("pickle: zero-length LONG at byte %d", at)
			}
			pushed = []scanItem{unknown}
		case 'F', 'I', 'L', 'S', 'V': // newline-terminated literals
			_, err = line("text")
			pushed = []scanItem{unknown}
		case 'B', 'C', 0x8e, 0x96:
			return fmt.Errorf("pickle: bytes opcode 0x%02x at byte %d: torch.save checkpoints (protocol 2) hold no bytes objects", op, at)
		case 'i', 'o', 'P', 0x82, 0x83, 0x84, 0x97, 0x98:
			return fmt.Errorf("pickle: opcode 0x%02x at byte %d never appears in a torch.save checkpoint", op, at)
		default:
			return fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, at)
		}
		if err != nil {
			return err
		}
		if popMark {
			if len(marks) == 0 {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d without a MARK", op, at)
			}
			stack = stack[:marks[len(marks)-1]]
			marks = marks[:len(marks)-1]
		}
		if len(stack)-base() < pop {
			return fmt.Errorf("pickle: stack underflow at byte %d (opcode 0x%02x)", at, op)
		}
		stack = append(stack[:len(stack)-pop], pushed...)
	}
	return fmt.Errorf("pickle: no STOP opcode (truncated pickle)")
}
