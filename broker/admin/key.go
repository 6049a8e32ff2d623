package admin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nautilus-mq/nautilus/broker/config"
)

// KeyFileName is the file under platform_data_dir holding the generated API key.
const KeyFileName = "admin_api_key"

// KeyPath is where a node with this configuration keeps its generated API key.
func KeyPath(cfg *config.Config) string {
	return filepath.Join(cfg.Node.PlatformDataDir, KeyFileName)
}

// LoadOrCreateKey returns the API key a node serves with: admin.api_key when set, else the key
// kept in KeyPath, generated (32 random bytes, hex) and written with mode 0600 on first use.
// Where the key comes from is logged; the key itself never is.
func LoadOrCreateKey(cfg *config.Config, log *slog.Logger) (string, error) {
	if cfg.Admin.APIKey != "" {
		log.Info("admin API key: admin.api_key from the configuration")
		return cfg.Admin.APIKey, nil
	}
	path := KeyPath(cfg)
	key, err := readKeyFile(path)
	if err == nil {
		log.Info("admin API key: read from the key file", "file", path)
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("admin: generate API key: %w", err)
	}
	key = hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("admin: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("admin: write the generated API key: %w", err)
	}
	_, werr := f.WriteString(key + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("admin: write the generated API key: %w", err)
	}
	log.Warn("admin API key: generated one (admin.api_key is not set); `nautilus admin --config` reads it from the key file", "file", path)
	return key, nil
}

// ReadKey returns the key a client of the node with this configuration should send:
// admin.api_key, else the node's key file. It never creates one.
func ReadKey(cfg *config.Config) (string, error) {
	if cfg.Admin.APIKey != "" {
		return cfg.Admin.APIKey, nil
	}
	path := KeyPath(cfg)
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no API key: admin.api_key is not set and %s does not exist (the node creates it when it first starts with a listener.http; platform_data_dir is relative to the node's working directory)", path)
	}
	return key, err
}

func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin: read the API key: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("admin: the API key file %s is empty: delete it to have the node generate a new key, or set admin.api_key", path)
	}
	return key, nil
}

// URLFromConfig is the base URL of the admin API of the node with this configuration: its
// first listener.http, with a wildcard host replaced by loopback.
func URLFromConfig(cfg *config.Config) (string, error) {
	for _, l := range cfg.Listeners {
		if l.Type != config.ListenerHTTP {
			continue
		}
		host, port, err := net.SplitHostPort(l.Address)
		if err != nil {
			return "", fmt.Errorf("%s: %w", l.Key(), err)
		}
		switch host {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		return "http://" + net.JoinHostPort(host, port), nil
	}
	where := "the built-in defaults"
	if cfg.File != "" {
		where = cfg.File
	}
	return "", fmt.Errorf("%s configures no admin API listener: add `listener.http.default = 127.0.0.1:8888` and restart the node, or pass --url", where)
}
