package mqttclient_test

import "errors"

func asConnack(err error, target any) bool { return errors.As(err, target) }
