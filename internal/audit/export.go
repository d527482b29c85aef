package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Format is an export format.
type Format string

// The export formats.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
)

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	if f == CSV {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// Filename is the attachment name of an export in the format.
func (f Format) Filename() string { return "audit-logs." + string(f) }

// Encoder writes exported records in one format. Write buffers; Flush
// sends what is buffered to the underlying writer.
type Encoder interface {
	Write(r *Record) error
	Flush() error
}

// NewEncoder returns the encoder of format f writing to w. A CSV encoder
// writes its header row first.
func NewEncoder(f Format, w io.Writer) (Encoder, error) {
	if f == CSV {
		e := &csvEncoder{w: csv.NewWriter(w)}
		if err := e.w.Write(csvHeader); err != nil {
			return nil, fmt.Errorf("write csv header: %w", err)
		}
		return e, nil
	}
	return &ndjsonEncoder{w: bufio.NewWriter(w)}, nil
}

// csvHeader names the CSV columns, in order.
var csvHeader = []string{"id", "createdAt", "eventType", "eventCategory", "action",
	"success", "actorType", "actorId", "userId", "clientId", "resourceType",
	"resourceId", "ipAddress", "userAgent", "requestId", "errorMessage", "metadata"}

type csvEncoder struct {
	w   *csv.Writer
	row []string
}

func (e *csvEncoder) Write(r *Record) error {
	meta := ""
	if len(r.Metadata) > 0 && string(r.Metadata) != "null" {
		meta = string(r.Metadata)
	}
	e.row = append(e.row[:0], r.ID, db.FormatTime(r.CreatedAt), r.EventType,
		r.EventCategory, r.Action, strconv.FormatBool(r.Success), r.Actor.Type,
		str(r.Actor.ID), str(r.UserID), str(r.ClientID), str(r.ResourceType),
		str(r.ResourceID), str(r.IPAddress), str(r.UserAgent), str(r.RequestID),
		str(r.ErrorMessage), meta)
	for i, cell := range e.row {
		e.row[i] = Defuse(cell)
	}
	return e.w.Write(e.row)
}

func (e *csvEncoder) Flush() error {
	e.w.Flush()
	return e.w.Error()
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Defuse keeps a spreadsheet from reading a cell as a formula: a cell
// starting with =, +, - or @ gets a leading apostrophe.
func Defuse(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@':
		return "'" + cell
	}
	return cell
}

type ndjsonEncoder struct {
	w *bufio.Writer
}

func (e *ndjsonEncoder) Write(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode audit record: %w", err)
	}
	if _, err := e.w.Write(b); err != nil {
		return err
	}
	return e.w.WriteByte('\n')
}

func (e *ndjsonEncoder) Flush() error { return e.w.Flush() }
