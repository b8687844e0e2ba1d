package gorillastore

import "time"

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }
