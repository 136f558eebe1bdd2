from shotseek.server.cli import main

main()
