package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// config checks the configuration file with cfg.ValidateConfig.
func (d *doctor) config() {
	const id, name = "config", "configuration"
	file := d.cfg.ConfigFile
	if file == "" {
		file = "the configuration file"
	}
	if d.cfg.ValidateConfig == nil {
		d.skip(id, name, "no validator")
		return
	}
	warnings, err := d.cfg.ValidateConfig()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add(id, name, Pass, file+" does not exist: defaults apply", "")
	case err != nil:
		d.add(id, name, Fail, err.Error(), "edit "+file+" (KEY=value lines; see bluenet(1))")
	case len(warnings) > 0:
		d.add(id, name, Warn, fmt.Sprintf("%s: %s", file, strings.Join(warnings, "; ")), "edit "+file)
	default:
		d.add(id, name, Pass, file+" is valid", "")
	}
}
