"""Jobs: code from Git or S3 run as `mpiexec -n <CORE_COUNT> python <command>`."""
