package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/cerberus-iam/cerberus/internal/audit"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

func (a *AdminAPI) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := audit.ParseQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := a.Audit.List(r.Context(), orgOf(r), q)
	if err != nil {
		return err
	}
	var next *string
	if page.NextCursor != "" {
		next = &page.NextCursor
	}
	records := page.Records
	if records == nil {
		records = []audit.Record{}
	}
	WriteJSON(w, http.StatusOK, struct {
		Data       []audit.Record `json:"data"`
		Limit      int            `json:"limit"`
		NextCursor *string        `json:"nextCursor"`
	}{records, q.Limit, next})
	return nil
}

func (a *AdminAPI) getAudit(w http.ResponseWriter, r *http.Request) error {
	rec, err := a.Audit.Get(r.Context(), orgOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, rec)
	return nil
}

// exportWindow is how long each batch of an export may take to write: the
// write deadline moves forward by this much before every batch, so a long
// export outlives the server's write timeout while a stalled client does
// not hold the connection for ever.
const exportWindow = 60 * time.Second

// exportAudit streams every matching record. Once the first byte is out an
// error can no longer become a problem answer: the connection is aborted
// so the client sees a truncated download rather than a complete-looking
// one.
func (a *AdminAPI) exportAudit(w http.ResponseWriter, r *http.Request) error {
	filter, format, err := audit.ParseExport(r.URL.Query())
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", format.ContentType())
	h.Set("Content-Disposition", `attachment; filename="`+format.Filename()+`"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc, err := audit.NewEncoder(format, w)
	if err == nil {
		err = a.Audit.Export(r.Context(), orgOf(r), filter, func(batch []audit.Record) error {
			return writeBatch(rc, enc, batch)
		})
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		telemetry.Logger(r.Context()).Warn("audit export interrupted", "error", err.Error())
		panic(http.ErrAbortHandler)
	}
	return nil
}

// writeBatch extends the write deadline, encodes a batch and flushes it to
// the client.
func writeBatch(rc *http.ResponseController, enc audit.Encoder, batch []audit.Record) error {
	err := rc.SetWriteDeadline(time.Now().Add(exportWindow))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	for i := range batch {
		if err := enc.Write(&batch[i]); err != nil {
			return err
		}
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
