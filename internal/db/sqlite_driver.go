package db

import (
	"context"
	"database/sql/driver"
	"time"

	"modernc.org/sqlite"
)

// The SQLite driver writes a time.Time argument in Go's String format, which
// neither sorts nor parses like the RFC 3339 text the schema stores. The
// wrapper below converts time arguments to TimeLayout before the driver sees
// them, so callers pass time.Time on both engines.

type sqliteConnector struct {
	dsn string
	drv *sqlite.Driver
}

func newSQLiteConnector(dsn string) driver.Connector {
	return &sqliteConnector{dsn: dsn, drv: &sqlite.Driver{}}
}

func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &sqliteConn{Conn: conn}, nil
}

func (c *sqliteConnector) Driver() driver.Driver { return c.drv }

// sqliteConn forwards to the driver's connection and converts time values.
type sqliteConn struct {
	driver.Conn
}

// CheckNamedValue converts time.Time arguments and leaves the rest to the
// default conversion.
func (c *sqliteConn) CheckNamedValue(nv *driver.NamedValue) error {
	switch v := nv.Value.(type) {
	case time.Time:
		nv.Value = FormatTime(v)
		return nil
	case *time.Time:
		if v == nil {
			nv.Value = nil
		} else {
			nv.Value = FormatTime(*v)
		}
		return nil
	}
	return driver.ErrSkip
}

func (c *sqliteConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *sqliteConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *sqliteConn) ExecContext(
	ctx context.Context, query string, args []driver.NamedValue,
) (driver.Result, error) {
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *sqliteConn) QueryContext(
	ctx context.Context, query string, args []driver.NamedValue,
) (driver.Rows, error) {
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *sqliteConn) Ping(ctx context.Context) error {
	return c.Conn.(driver.Pinger).Ping(ctx)
}

func (c *sqliteConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *sqliteConn) IsValid() bool {
	return c.Conn.(driver.Validator).IsValid()
}
