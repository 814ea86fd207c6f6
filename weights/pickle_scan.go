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
// out-of-band opcodes, length fields that point past the end of the pickle
// (the unpickler would allocate them before noticing), GLOBAL/INST classes
// outside the allow list, zero-length LONG1/LONG4 (which crash the
// unpickler), and MARK nesting deeper than maxMarkDepth. It checks the
// whole byte stream including frame contents (FRAME only chunks it).
func scanPickle(p []byte) error {
	pos := 0
	depth := 0
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
		switch op {
		case '(': // MARK
			depth++
			if depth > maxMarkDepth {
				return fmt.Errorf("pickle: MARKs nested deeper than %d at byte %d", maxMarkDepth, at)
			}
		case 't', 'l', 'd', 'u', 'e', '1', 0x90, 0x91: // consume a MARK
			if depth > 0 {
				depth--
			}
		case '.': // STOP
			return nil
		case '0', '2', 'N', 'R', 'a', 'b', '}', ']', 's', ')', 0x85, 0x86, 0x87,
			0x88, 0x89, 0x8f, 0x92, 0x93, 0x94, 0x81, 'Q':
			// no argument
		case 'K', 'h', 'q', 0x80: // 1-byte argument
			if err := need(1, "opcode"); err != nil {
				return err
			}
			pos++
		case 'M': // 2-byte argument
			if err := need(2, "BININT2"); err != nil {
				return err
			}
			pos += 2
		case 'J', 'j', 'r':
			if err := need(4, "opcode"); err != nil {
				return err
			}
			pos += 4
		case 'G': // BINFLOAT
			if err := need(8, "BINFLOAT"); err != nil {
				return err
			}
			pos += 8
		case 'U', 'C', 0x8c, 0x8a: // 1-byte length + data
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
		case 'T', 'B', 'X', 0x8b: // 4-byte length + data
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
		case 0x8d, 0x8e, 0x96: // 8-byte length + data
			if err := need(8, "length"); err != nil {
				return err
			}
			n := binary.LittleEndian.Uint64(p[pos:])
			pos += 8
			if err := need(n, "string"); err != nil {
				return err
			}
			pos += int(n)
		case 0x95: // FRAME: 8-byte frame length; its content is scanned as part of the stream
			if err := need(8, "FRAME length"); err != nil {
				return err
			}
			n := binary.LittleEndian.Uint64(p[pos:])
			pos += 8
			if err := need(n, "FRAME"); err != nil {
				return err
			}
		case 'F', 'I', 'L', 'S', 'V', 'g', 'p': // newline-terminated argument
			if _, err := line("text"); err != nil {
				return err
			}
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
		case 'i', 'o', 'P', 0x82, 0x83, 0x84, 0x97, 0x98:
			return fmt.Errorf("pickle: opcode 0x%02x at byte %d never appears in a torch.save checkpoint", op, at)
		default:
			return fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, at)
		}
	}
	return fmt.Errorf("pickle: no STOP opcode (truncated pickle)")
}
