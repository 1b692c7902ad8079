"""Bare Tornado: one handler writing a constant string, the floor the
framework sets for bench/load.py. No template, no session, no headers of ours.

python bench/hello.py --port=8890
"""

import asyncio

import tornado.web
from tornado.options import define, options, parse_command_line

define("port", default=8890)
define("chunk_size", default=64 * 1024, help="bytes read from a connection at a time (Tornado's default)")


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


async def main() -> None:
    parse_command_line()
    tornado.web.Application([(r"/", HelloHandler)]).listen(options.port, "127.0.0.1", chunk_size=options.chunk_size)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
