from cftrack_cli.cli import main

main()
