"""The alarm word and the status word of a location report (0x0200), bit by bit.

Bit numbers are the standard's (bit 0 = least significant). Where JT/T 808-2019 renamed or
added a bit, the name below is the 2019 one and :data:`ALARM_2013_NAMES` gives the 2013
meaning; docs/jt808.md has the whole table. hazgate stores the alarm word as the metric
``alarm_flags`` (a number 0 .. 2^32-1), so a ``flag`` rule can watch any bit.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final


class AlarmBit(IntEnum):
    """Alarm word bits. "Latched" bits are cleared by the terminal once the platform answers."""

    SOS = 0  # emergency button pressed (latched)
    OVERSPEED = 1
    FATIGUE = 2
    DANGEROUS_DRIVING = 3  # 2013: danger warning (latched)
    GNSS_FAULT = 4
    GNSS_ANTENNA_CUT = 5
    GNSS_ANTENNA_SHORT = 6
    POWER_LOW = 7  # main power under-voltage
    POWER_OFF = 8  # main power lost
    DISPLAY_FAULT = 9
    TTS_FAULT = 10
    CAMERA_FAULT = 11
    IC_CARD_FAULT = 12  # road transport licence IC card module
    OVERSPEED_WARNING = 13
    FATIGUE_WARNING = 14
    DRIVING_VIOLATION = 15  # 2019; reserved in 2013
    TYRE_PRESSURE_WARNING = 16  # 2019; reserved in 2013
    RIGHT_TURN_BLIND_SPOT = 17  # 2019; reserved in 2013
    DAILY_DRIVING_OVERTIME = 18
    PARKING_OVERTIME = 19
    AREA_IN_OUT = 20  # latched
    ROUTE_IN_OUT = 21  # latched
    SECTION_TIME = 22  # road section driving time too short / too long (latched)
    ROUTE_DEVIATION = 23
    VSS_FAULT = 24  # vehicle speed sensor
    FUEL_ABNORMAL = 25
    STOLEN = 26
    ILLEGAL_IGNITION = 27
    ILLEGAL_DISPLACEMENT = 28
    COLLISION_ROLLOVER = 29  # 2013: collision warning
    ROLLOVER_WARNING = 30
    ILLEGAL_DOOR_OPEN = 31  # 2013 only; reserved in 2019


# (English, 中文) per bit, as docs/jt808.md lists them.
ALARM_NAMES: Final[dict[AlarmBit, tuple[str, str]]] = {
    AlarmBit.SOS: ("emergency alarm (SOS button)", "紧急报警"),
    AlarmBit.OVERSPEED: ("over-speed alarm", "超速报警"),
    AlarmBit.FATIGUE: ("fatigue driving alarm", "疲劳驾驶报警"),
    AlarmBit.DANGEROUS_DRIVING: ("dangerous driving behaviour alarm", "危险驾驶行为报警"),
    AlarmBit.GNSS_FAULT: ("GNSS module fault", "GNSS 模块发生故障"),
    AlarmBit.GNSS_ANTENNA_CUT: ("GNSS antenna disconnected or cut", "GNSS 天线未接或被剪断"),
    AlarmBit.GNSS_ANTENNA_SHORT: ("GNSS antenna short circuit", "GNSS 天线短路"),
    AlarmBit.POWER_LOW: ("main power under-voltage", "终端主电源欠压"),
    AlarmBit.POWER_OFF: ("main power lost", "终端主电源掉电"),
    AlarmBit.DISPLAY_FAULT: ("LCD or display fault", "终端 LCD 或显示器故障"),
    AlarmBit.TTS_FAULT: ("TTS module fault", "TTS 模块故障"),
    AlarmBit.CAMERA_FAULT: ("camera fault", "摄像头故障"),
    AlarmBit.IC_CARD_FAULT: ("road transport licence IC card module fault", "道路运输证 IC 卡模块故障"),
    AlarmBit.OVERSPEED_WARNING: ("over-speed warning", "超速预警"),
    AlarmBit.FATIGUE_WARNING: ("fatigue driving warning", "疲劳驾驶预警"),
    AlarmBit.DRIVING_VIOLATION: ("driving violation alarm", "违规行驶报警"),
    AlarmBit.TYRE_PRESSURE_WARNING: ("tyre pressure warning", "胎压预警"),
    AlarmBit.RIGHT_TURN_BLIND_SPOT: ("right-turn blind spot alarm", "右转盲区异常报警"),
    AlarmBit.DAILY_DRIVING_OVERTIME: ("accumulated driving time of the day exceeded", "当天累计驾驶超时"),
    AlarmBit.PARKING_OVERTIME: ("parked too long", "超时停车"),
    AlarmBit.AREA_IN_OUT: ("entered or left an area", "进出区域"),
    AlarmBit.ROUTE_IN_OUT: ("entered or left a route", "进出路线"),
    AlarmBit.SECTION_TIME: ("road section driving time too short or too long", "路段行驶时间不足/过长"),
    AlarmBit.ROUTE_DEVIATION: ("route deviation", "路线偏离报警"),
    AlarmBit.VSS_FAULT: ("vehicle speed sensor (VSS) fault", "车辆 VSS 故障"),
    AlarmBit.FUEL_ABNORMAL: ("abnormal fuel level", "车辆油量异常"),
    AlarmBit.STOLEN: ("vehicle stolen (anti-theft device)", "车辆被盗"),
    AlarmBit.ILLEGAL_IGNITION: ("illegal ignition", "车辆非法点火"),
    AlarmBit.ILLEGAL_DISPLACEMENT: ("illegal displacement", "车辆非法位移"),
    AlarmBit.COLLISION_ROLLOVER: ("collision / rollover alarm", "碰撞侧翻报警"),
    AlarmBit.ROLLOVER_WARNING: ("rollover warning", "侧翻预警"),
    AlarmBit.ILLEGAL_DOOR_OPEN: ("illegal door opening (2013; reserved in 2019)", "非法开门报警"),
}

# Where JT/T 808-2013 gives a bit another meaning than 2019.
ALARM_2013_NAMES: Final[dict[AlarmBit, str]] = {
    AlarmBit.DANGEROUS_DRIVING: "danger warning (危险预警)",
    AlarmBit.DRIVING_VIOLATION: "reserved",
    AlarmBit.TYRE_PRESSURE_WARNING: "reserved",
    AlarmBit.RIGHT_TURN_BLIND_SPOT: "reserved",
    AlarmBit.COLLISION_ROLLOVER: "collision warning (碰撞预警)",
}

# The terminal clears these itself once the platform has answered the report; the others stay
# set while the condition lasts.
LATCHED_ALARMS: Final = frozenset(
    {AlarmBit.SOS, AlarmBit.DANGEROUS_DRIVING, AlarmBit.AREA_IN_OUT, AlarmBit.ROUTE_IN_OUT, AlarmBit.SECTION_TIME}
)


class Status(IntFlag):
    """Status word bits (load state is the two-bit field at bits 8-9, see :func:`load_state`)."""

    ACC_ON = 1 << 0
    POSITIONED = 1 << 1  # 0: no fix; latitude, longitude, speed and heading mean nothing
    SOUTH = 1 << 2  # latitude is south
    WEST = 1 << 3  # longitude is west
    OUT_OF_SERVICE = 1 << 4  # 停运
    COORDINATES_ENCRYPTED = 1 << 5  # by a confidentiality plug-in
    FORWARD_COLLISION_WARNING = 1 << 6  # 2019: from the emergency braking system; reserved in 2013
    LANE_DEPARTURE_WARNING = 1 << 7  # 2019; reserved in 2013
    LOAD_LOW = 1 << 8
    LOAD_HIGH = 1 << 9
    FUEL_CUT = 1 << 10  # oil circuit disconnected
    POWER_CUT = 1 << 11  # vehicle circuit disconnected
    DOORS_LOCKED = 1 << 12
    DOOR_1_OPEN = 1 << 13  # front door
    DOOR_2_OPEN = 1 << 14  # middle door
    DOOR_3_OPEN = 1 << 15  # rear door
    DOOR_4_OPEN = 1 << 16  # driver's door
    DOOR_5_OPEN = 1 << 17  # custom
    GPS = 1 << 18  # satellites used for the fix
    BEIDOU = 1 << 19
    GLONASS = 1 << 20
    GALILEO = 1 << 21
    MOVING = 1 << 22  # 2019: the vehicle is driving; reserved in 2013


LOAD_STATES: Final = {0: "empty", 1: "half", 2: "reserved", 3: "full"}


def load_state(status: int) -> str:
    return LOAD_STATES[(status >> 8) & 0b11]


def alarm_bits(alarm: int) -> list[AlarmBit]:
    """The alarm bits set in ``alarm``, lowest first."""
    return [bit for bit in AlarmBit if alarm >> bit & 1]
