package logging

import (
	"errors"
	"io"
	"log/slog"

	"gopkg.in/natefinch/lumberjack.v2"
)

func newFileHandler(o FileOptions, lv *slog.LevelVar, addSource bool) (slog.Handler, io.Closer, error) {
	if o.MaxSizeMB < 0 || o.MaxBackups < 0 || o.MaxAgeDays < 0 {
		return nil, nil, errors.New("max size, backups and age must not be negative")
	}
	lj := &lumberjack.Logger{
		Filename:   o.Path,
		MaxSize:    o.MaxSizeMB,
		MaxBackups: o.MaxBackups,
		MaxAge:     o.MaxAgeDays,
	}
	h, err := newFormatHandler(o.Format, lj, &slog.HandlerOptions{Level: lv, AddSource: addSource})
	if err != nil {
		return nil, nil, err
	}
	// lumberjack opens the file lazily on the first write; an empty write
	// opens it now, so a bad path fails at start instead of silently
	// dropping the first log lines.
	if _, err := lj.Write(nil); err != nil {
		return nil, nil, err
	}
	return h, lj, nil
}
