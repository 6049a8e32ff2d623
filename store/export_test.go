package store

import "github.com/linxGnu/grocksdb"

// SetFormatVersionForTest rewrites the layout version of a closed database, to test that a
// newer layout is refused.
func SetFormatVersionForTest(dir string, v byte) error {
	d, err := Open(Options{Dir: dir})
	if err != nil {
		return err
	}
	defer d.Close()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.PutCF(d.cfs["default"], formatKey, []byte{v})
	return d.db.Write(d.woS, wb)
}
